"""The sections of an institution's information (机构基本信息、办学条件、建筑信息), declared once."""

from __future__ import annotations

from portal.data.fields import FieldSpec, Section

BASE = Section(
    "base",
    "机构基本信息",
    (
        FieldSpec("address", "机构地址", required=True, max_length=200),
        FieldSpec("postcode", "邮政编码", max_length=6, help="6 位数字"),
        FieldSpec("phone", "联系电话", required=True, max_length=20),
        FieldSpec("principal", "园长姓名", required=True, max_length=32),
        FieldSpec("license_no", "办园许可证号", required=True, max_length=64),
        FieldSpec("founded", "建园日期", kind="date", required=True),
        FieldSpec("sponsor", "举办者", required=True, max_length=100),
        FieldSpec(
            "authority",
            "主管部门",
            kind="choice",
            required=True,
            choices=("教育部门", "其他部门", "地方企业", "事业单位", "部队", "集体", "民办"),
        ),
        FieldSpec("boarding", "是否提供寄宿", kind="bool"),
    ),
)

CONDITIONS = Section(
    "conditions",
    "办学条件",
    (
        FieldSpec("land_area", "占地面积", kind="number", required=True, min_value=0, max_value=1_000_000, unit="㎡"),
        FieldSpec(
            "building_area", "园舍建筑面积", kind="number", required=True, min_value=0, max_value=1_000_000, unit="㎡"
        ),
        FieldSpec("playground_area", "户外活动场地面积", kind="number", min_value=0, max_value=1_000_000, unit="㎡"),
        FieldSpec("classrooms", "活动室数", kind="integer", required=True, min_value=0, max_value=500, unit="间"),
        FieldSpec("books", "幼儿图书", kind="integer", min_value=0, max_value=1_000_000, unit="册"),
        FieldSpec("staff", "教职工数", kind="integer", required=True, min_value=0, max_value=5000, unit="人"),
        FieldSpec("teachers", "专任教师数", kind="integer", required=True, min_value=0, max_value=5000, unit="人"),
        FieldSpec("toys", "玩教具配备", kind="choice", required=True, choices=("齐全", "基本齐全", "不足")),
    ),
)

BUILDINGS = Section(
    "buildings",
    "建筑信息",
    (
        FieldSpec("premises", "园舍产权", kind="choice", required=True, choices=("自有", "租用", "借用")),
        FieldSpec("built_year", "主体建筑建成年份", kind="integer", required=True, min_value=1900, max_value=2100),
        FieldSpec(
            "structure", "建筑结构", kind="choice", required=True, choices=("钢筋混凝土", "砖混", "砖木", "其他")
        ),
        FieldSpec("floors", "建筑层数", kind="integer", required=True, min_value=1, max_value=10, unit="层"),
        FieldSpec("dangerous", "是否有危房", kind="bool"),
        FieldSpec("fire_checked", "已通过消防验收", kind="bool"),
    ),
)

SECTIONS: tuple[Section, ...] = (BASE, CONDITIONS, BUILDINGS)
SECTIONS_BY_KEY: dict[str, Section] = {s.key: s for s in SECTIONS}
