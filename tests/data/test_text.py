"""The character check of every text field: its fast path (one regular expression over the text)
must let through nothing the per-character rule refuses."""

from __future__ import annotations

from portal.data import text


def test_the_fast_path_sees_every_character_the_rule_refuses() -> None:
    refused = [code for code in range(0x110000) if text.bad_character(chr(code)) is not None]
    assert len(refused) > 2000  # controls, direction marks, surrogates, noncharacters
    assert [hex(code) for code in refused if text._SUSPECT.search(chr(code)) is None] == []


def test_clean_and_refused_texts() -> None:
    assert text.text_problem("北京市海淀区 <b>'; DROP TABLE child;-- =1+1 𠮷 👨‍👩‍👧", "地址") is None
    assert text.text_problem("第一行\n第二行", "说明", multiline=True) is None
    assert text.text_problem("第一行\n第二行", "名称") == "名称含有换行符（U+000A），请删除后重新填写。"
    assert (
        text.text_problem("abc\u202efdp.exe", "文件名")
        == "文件名含有改变文字方向的不可见字符（U+202E），请删除后重新填写。"
    )
    assert text.text_problem("x\U0010ffff", "名称") == "名称含有无法识别的字符（U+10FFFF），请删除后重新填写。"
