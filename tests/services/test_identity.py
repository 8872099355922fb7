"""ID documents (GB 11643) and student numbers (G / J / L)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.identity import (
    DocumentType,
    check_character,
    check_document,
    is_student_number,
    student_number_g,
    student_number_j,
    student_number_l,
)

TODAY = date(2026, 11, 28)
VALID = "11010519491231002X"  # the example of GB 11643-1999: born 1949-12-31, female
CHILD = "410122202103150016"  # a child of 中牟县 born 2021-03-15, male (sequence 001)


def check(number: str, kind: DocumentType = DocumentType.RESIDENT_ID, **kwargs: object):  # type: ignore[no-untyped-def]
    return check_document(kind, number, today=TODAY, **kwargs)  # type: ignore[arg-type]


def test_check_character_of_the_standards_example() -> None:
    assert check_character(VALID[:17]) == "X"
    assert check_character(CHILD[:17]) == CHILD[17]


def test_valid_numbers_give_birth_date_and_gender() -> None:
    result = check(VALID.lower())  # a lower-case x is accepted
    assert result.ok and result.number == VALID
    assert (result.birth_date, result.gender) == (date(1949, 12, 31), "女")
    child = check(CHILD, birth_date=date(2021, 3, 15), gender="男")
    assert child.ok and (child.birth_date, child.gender) == (date(2021, 3, 15), "男")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("41012220210315001", "应为 18 位，当前为 17 位"),
        ("4101222021031500161", "应为 18 位，当前为 19 位"),
        ("41012220210315001Y", "只能由数字组成，最后一位可以是 X"),
        ("41012A202103150016", "只能由数字组成"),
        ("410122202102300013", "出生日期“20210230”不是有效日期"),
        ("410122203001010010", "出生日期“20300101”不是有效日期"),  # in the future
        ("410122202103150017", "校验位（第 18 位）不正确"),
        ("810000201801010012", "是港澳台居民居住证"),
    ],
)
def test_each_kind_of_error_is_named(number: str, message: str) -> None:
    result = check(number)
    assert not result.ok
    assert any(message in e for e in result.errors), result.errors


def test_form_must_agree_with_the_number() -> None:
    result = check(CHILD, birth_date=date(2021, 3, 16), gender="女")
    assert result.errors == [
        "出生日期与证件号码不符：证件号码显示为 2021-03-15。",
        "性别与证件号码不符：证件号码显示为男。",
    ]


def test_unknown_address_code_is_only_a_warning() -> None:
    body = "41999920210315001"
    number = body + check_character(body)
    result = check(number, known_region=lambda code: code.startswith("4101"))
    assert result.ok and "地址码 419999 不在现行行政区划中" in result.warnings[0]


def test_other_documents() -> None:
    hmt_body = "81000020180101001"
    assert check(hmt_body + check_character(hmt_body), DocumentType.HMT_RESIDENCE).ok
    assert "810000（香港）" in check(CHILD, DocumentType.HMT_RESIDENCE).errors[0]
    assert check("H12345678", DocumentType.HK_MACAO_PERMIT).ok
    assert check("M1234567801", DocumentType.HK_MACAO_PERMIT).ok
    assert not check("X12345678", DocumentType.HK_MACAO_PERMIT).ok
    assert check("12345678", DocumentType.TAIWAN_PERMIT).ok
    assert not check("1234567", DocumentType.TAIWAN_PERMIT).ok
    assert check("USA110012345678", DocumentType.FOREIGN_PERMANENT).ok
    new_pr = "93315620200101001"
    assert check(new_pr + check_character(new_pr), DocumentType.FOREIGN_PERMANENT).ok
    assert not check("12345", DocumentType.FOREIGN_PERMANENT).ok
    assert check("e12345678", DocumentType.PASSPORT).number == "E12345678"
    assert not check("E1234-5678", DocumentType.PASSPORT).ok
    assert check("", DocumentType.NONE).ok
    assert "不应填写证件号码" in check("123", DocumentType.NONE).errors[0]
    assert "请填写" in check(" ", DocumentType.PASSPORT).errors[0]


def test_student_numbers() -> None:
    assert student_number_g(CHILD) == "G" + CHILD
    j = student_number_j("410122", date(2021, 3, 15), 7)
    assert len(j) == 19 and j.startswith("J41012220210315007") and is_student_number(j)
    assert student_number_l("410122", date(2021, 3, 15), 12) == "L410122202103150012"
    assert is_student_number(student_number_g(VALID)) and not is_student_number("G" + CHILD[:-1] + "9")
    with pytest.raises(ValueError):
        student_number_j("4101", date(2021, 3, 15), 1)


birth_dates = st.dates(min_value=date(2015, 1, 1), max_value=TODAY - timedelta(days=1))
regions = st.sampled_from(["410102", "410122", "419001", "110105", "650102"])
sequences = st.integers(min_value=0, max_value=999)


def make_number(region: str, birth: date, sequence: int) -> str:
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


@given(regions, birth_dates, sequences)
def test_a_generated_valid_number_always_passes(region: str, birth: date, sequence: int) -> None:
    number = make_number(region, birth, sequence)
    result = check(number, birth_date=birth, gender="男" if sequence % 2 else "女")
    assert result.ok, result.errors


@given(regions, birth_dates, sequences, st.integers(min_value=0, max_value=17), st.integers(min_value=1, max_value=9))
def test_a_changed_digit_always_fails(region: str, birth: date, sequence: int, position: int, delta: int) -> None:
    number = make_number(region, birth, sequence)
    if position == 17:
        alphabet = "0123456789X"
        changed = alphabet[(alphabet.index(number[17]) + delta) % 11]
    else:
        changed = str((int(number[position]) + delta) % 10)
    altered = number[:position] + changed + number[position + 1 :]
    assert not check(altered).ok
