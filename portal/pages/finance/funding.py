"""经费测算: a finance user of a province, city or county bureau computes, for a reference date, the
funding that follows the student numbers (R4.2, Notice 二) and reads the frozen runs: totals by
level with a chart, an institution's children (masked) and the workbook for finance."""

from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from portal.clock import format_local
from portal.services import funding
from portal.services.workflow import local_today
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.paging import KeysetPager
from portal.ui.text import md

FLASH = "funding_flash"
LEVELS_BELOW = {
    "province": ["province", "city", "county", "institution"],
    "city": ["city", "county", "institution"],
    "county": ["county", "institution"],
}
BIG_EXPORT = 200_000  # children: above this the children sheet is left out unless asked for

actor = require_page("funding")
page_header("经费测算", actor)
show_flash(FLASH)
today = local_today()


def money(value: object) -> str:
    return f"{value:,.2f}"


with service_errors():
    overview = funding.rates_overview(actor)
    lines = [
        f"**转园幼儿计算规则**：{md(overview.rule_label)}，测算期内转园的幼儿只计一次。",
        "**经费标准**（元/人·年；同一类别取最具体的一条：本年度优先于“各年度”，县优先于市、省和“各地区”）：",
    ]
    for entry in overview.entries:
        amounts = "，".join(f"{funding.CATEGORY_LABELS[c]} {money(a)}" for c, a in entry.amounts.items())
        lines.append(f"- {md(entry.year_label)} · {md(entry.region_name)}：{amounts}")
    st.info("\n\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]), icon=":material/info:")

with st.form("funding_compute"):
    st.markdown(
        "**新的测算**：计入基准日在园、审核通过并已取得学籍号的幼儿，按所在机构计算生均财政拨款、"
        "建档立卡家庭幼儿资助和普惠性民办园补助。测算结果保存后不再改变，重新测算将生成新的记录。"
    )
    left, middle, right = st.columns(3)
    year = left.number_input("测算年度", min_value=2000, max_value=today.year + 1, value=today.year, step=1)
    reference = middle.date_input("基准日", value=today, max_value=today, format="YYYY-MM-DD")
    start = right.date_input("测算期起始日（留空为测算年度 1 月 1 日）", value=None, format="YYYY-MM-DD")
    note = st.text_input("备注", max_chars=500)
    submitted = st.form_submit_button("开始测算", type="primary", icon=":material/calculate:")
if submitted:
    bar = st.progress(0.0, text="正在测算……")

    def show_progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0, text=f"正在测算……（{done}/{total}）")

    with service_errors():
        run_id = funding.compute_run(
            actor,
            year=int(year),
            reference_date=reference if isinstance(reference, date) else today,
            period_start=start if isinstance(start, date) else None,
            note=note,
            on_progress=show_progress,
        )
        st.session_state["funding_run"] = run_id
        flash_and_rerun(FLASH, f"测算完成（第 {run_id} 号），结果已保存。")

with service_errors():
    runs = funding.list_runs(actor)
if not runs:
    st.info("还没有测算记录。", icon=":material/info:")
    st.stop()

st.subheader("测算记录")
st.dataframe(
    pd.DataFrame(
        [
            {
                "编号": r.id,
                "地区": r.region_name,
                "年度": r.year,
                "基准日": r.reference_date.isoformat(),
                "测算期起始日": r.period_start.isoformat(),
                "转园规则": r.rule_label,
                "计入幼儿数": r.children,
                "合计金额（元）": money(r.total),
                "测算人": r.created_by_name,
                "测算时间": format_local(r.created_at),
                "备注": r.note,
            }
            for r in runs
        ]
    ),
    hide_index=True,
    width="stretch",
)

by_id = {r.id: r for r in runs}
chosen = st.session_state.get("funding_run")
run_id = st.selectbox(
    "查看测算",
    list(by_id),
    index=list(by_id).index(chosen) if chosen in by_id else 0,
    format_func=lambda i: by_id[i].label,
    key="funding_pick",
)
run = by_id[run_id]
st.caption(
    f"基准日 {run.reference_date} · 测算期 {run.period_start} 至 {run.reference_date} · {md(run.rule_label)} · "
    f"{md(run.created_by_name)} 测算于 {format_local(run.created_at)}"
    + (f" · 备注：{md(run.note)}" if run.note else "")
)
left, right = st.columns(2)
left.metric("计入幼儿数", f"{run.children:,}")
right.metric("合计金额（元）", money(run.total))

levels = LEVELS_BELOW.get(run.level, ["institution"])
level = st.radio(
    "汇总层级",
    levels,
    index=levels.index("county") if "county" in levels else 0,
    format_func=lambda k: funding.LEVEL_LABELS[k],
    horizontal=True,
    key="funding_level",
)
totals = None
with service_errors():
    totals = funding.run_totals(actor, run_id, level)
    table = []
    for row in [*totals.rows, totals.total]:
        shown: dict[str, object] = {"名称": row.name}
        if level in ("county", "institution"):
            shown["所属"] = row.parent
        for category in funding.CATEGORIES:
            label = funding.CATEGORY_LABELS[category]
            shown[f"{label}人数"] = row.children[category]
            shown[f"{label}（元）"] = money(row.amounts[category])
        shown["合计（元）"] = money(row.total)
        table.append(shown)
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    ranked = sorted(totals.rows, key=lambda r: (-r.total, r.code))[:30]
    if ranked:
        figure = go.Figure(
            [
                go.Bar(
                    x=[r.name for r in ranked],
                    y=[r.amounts[category] for r in ranked],  # Decimals: plotly's encoder writes them exactly
                    name=funding.CATEGORY_LABELS[category],
                    hovertemplate="%{x}：%{y:,.2f} 元<extra></extra>",
                )
                for category in funding.CATEGORIES
            ]
        )
        figure.update_layout(
            barmode="stack",
            title=f"各{funding.LEVEL_LABELS[level]}经费测算金额" + ("（前 30 名）" if len(totals.rows) > 30 else ""),
            yaxis_title="元",
            height=420,
            margin={"l": 10, "r": 10, "t": 50, "b": 40},
        )
        st.plotly_chart(figure, key="funding_chart")

    with st.expander("本次测算所用经费标准", icon=":material/price_check:"):
        detail = funding.get_run(actor, run_id)
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "县（区）代码": r.county_code,
                        "县（区）": r.county_name,
                        **{
                            funding.CATEGORY_LABELS[c]: money(r.amounts[c])
                            for c in funding.CATEGORIES
                            if c in r.amounts
                        },
                    }
                    for r in detail.rates
                ]
            ),
            hide_index=True,
            width="stretch",
        )

st.subheader("机构明细")
with service_errors():
    places = totals.rows if totals and level == "institution" else funding.run_totals(actor, run_id, "institution").rows
    if not places:
        st.info("本次测算没有计入的幼儿。", icon=":material/info:")
    else:
        names = {int(r.code): f"{r.name}（{r.parent}，{money(r.total)} 元）" for r in places}
        institution_id = st.selectbox(
            "机构", list(names), format_func=lambda i: names[i], key=f"funding_institution_{run_id}"
        )
        page_size = get_settings().page_size
        pager = KeysetPager("funding_children_pager", (run_id, institution_id))
        page = funding.institution_children(actor, run_id, institution_id, after_id=pager.cursor, limit=page_size)
        st.markdown(
            f"**{md(page.institution_name)}**：计入 {page.children} 人，合计 {money(page.amount)} 元（"
            + "；".join(
                f"{label} {n} 人 × {money(rate)} 元 = {money(amount)} 元" for label, n, rate, amount in page.lines
            )
            + "）"
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "姓名": r.name,
                        "学籍号": r.student_number,
                        "类别": r.categories,
                        "金额（元）": money(r.amount),
                        "计入说明": r.reason,
                    }
                    for r in page.rows
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        pager.controls(page.next_after, page.children, page_size)

st.subheader("导出")
with_children = st.checkbox(
    "包含幼儿明细（姓名、学籍号已脱敏）",
    value=run.children <= BIG_EXPORT,
    key=f"funding_with_children_{run_id}",
    help="全省的幼儿明细行数很多，生成需要较长时间；每 100 万行分为一个工作表。",
)
if st.button("生成 Excel", icon=":material/table_view:", key="funding_export"):
    with service_errors(), st.spinner("正在生成……"):
        name, data = funding.export_run(actor, run_id, with_children=with_children)
        st.session_state["funding_xlsx"] = (run_id, name, data)
prepared = st.session_state.get("funding_xlsx")
if prepared and prepared[0] == run_id:
    st.download_button(
        "下载 Excel",
        prepared[2],
        file_name=prepared[1],
        mime=funding.XLSX_MIME,
        icon=":material/download:",
        key="funding_download",
    )
