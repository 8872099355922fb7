"""``clean_many`` and ``check_children`` (the import's column-at-a-time checks) against ``clean``
and ``check_child`` one record at a time: the same values, the same order, the same errors, for
valid and hostile values of every kind."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from portal.data.child_fields import CHILD, CLASS
from portal.data.fields import SAME_WHEN_EQUAL, clean, clean_many
from portal.data.institution_fields import BASE, BUILDINGS, CONDITIONS
from portal.services import children
from tests.factories import TODAY, child_values, resident_id

# Values that differ while Python calls them equal (1, 1.0, True; 0.0 and -0.0; Decimal("1") and
# Decimal("1.0")), or that cannot be dictionary keys, next to ordinary and hostile text.
ODD_VALUES: list[Any] = [
    None,
    "",
    "   ",
    "\u3000",
    True,
    False,
    1,
    1.0,
    "1",
    0,
    0.0,
    -0.0,
    "0",
    Decimal("1"),
    Decimal("1.0"),
    Decimal("NaN"),
    float("nan"),
    "1e999999",
    "12.5",
    "-3",
    date(2022, 3, 15),
    datetime(2022, 3, 15, 8, 30),
    "2022-03-15",
    "2022-02-30",
    "2022/03/15",
    ["汉族"],
    ("回族", "满族"),
    [],
    "男",
    "女 ",
    "汉族",
    "中国",
    "居民身份证",
    "无证件",
    "小一班",
    "王\u202e芳",
    "李\x00明",
    "字" * 201,
    "𠮷野",
]


# The values whose equal ones ``clean_many`` takes for one: a column of only these is worked out
# once per distinct value (the other values send a column down the one-by-one path).
KEYED_VALUES = [v for v in ODD_VALUES if type(v) in SAME_WHEN_EQUAL]


def _exact(mapping: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Keys, value types and values in order: 1 == True == 1.0 in Python, not here."""
    return [(key, type(value).__name__, repr(value)) for key, value in mapping.items()]


def _records(
    section: Any, count: int, seed: int, base: dict[str, Any] | None = None, pool: list[Any] = ODD_VALUES
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        record = dict(base or {})
        for spec in section.fields:
            roll = rng.random()
            if roll < 0.35:
                record[spec.name] = rng.choice(pool)
            elif roll < 0.5 and spec.choices:
                record[spec.name] = rng.choice(spec.choices)
            elif roll < 0.55:
                record.pop(spec.name, None)
        records.append(record)
    return records


def test_clean_many_is_clean_of_each_record() -> None:
    for section in (CHILD, CLASS, BASE, CONDITIONS, BUILDINGS):
        for check_required in (True, False):
            for pool in (ODD_VALUES, KEYED_VALUES):  # separately: one odd value sends a column one by one
                records = _records(section, 600, seed=len(section.fields), base=child_values(), pool=pool)
                many = clean_many(section, records, check_required=check_required)
                one_by_one = [clean(section, record, check_required=check_required) for record in records]
                assert len(many) == len(records)
                for (values, errors), (expected_values, expected_errors), record in zip(
                    many, one_by_one, records, strict=True
                ):
                    assert _exact(values) == _exact(expected_values), record
                    assert _exact(errors) == _exact(expected_errors), record
    assert clean_many(CHILD, []) == []


def test_clean_many_gives_every_record_its_own_multichoice_list() -> None:
    from portal.data.fields import FieldSpec, Section

    section = Section("t", "测试", (FieldSpec("kinds", "类别", kind="multichoice", choices=("甲", "乙")),))
    first, second = clean_many(section, [{"kinds": ["甲"]}, {"kinds": ["甲"]}])
    first[0]["kinds"].append("乙")
    assert second[0]["kinds"] == ["甲"]


def test_check_children_is_check_child_of_each_record() -> None:
    classes = frozenset({"小一班", "中一班"})
    known_region = {"410122", "410102"}.__contains__
    valid = [child_values(sequence=index % 400 + 1, birth=date(2021, 1, 1)) for index in range(50)]
    # Cross-field cases: a foreign name, a guardian half filled, an out-of-province child.
    crossed = [
        child_values(name="李·"),
        child_values(guardian2_name="王强"),
        child_values(origin_province="北京市", origin_number="G" + resident_id()),
        child_values(origin_province="河南省", origin_number="G" + resident_id()),
        child_values(document_type="外国人永久居留身份证", document_number="USA123456789012", name="John Smith"),
    ]
    many = []
    for records in (
        valid + crossed,
        valid + _records(CHILD, 1000, seed=7, base=child_values()),
        valid + _records(CHILD, 1000, seed=8, base=child_values(), pool=KEYED_VALUES),
    ):
        checked_many = children.check_children(
            records, class_names=classes, today=TODAY, known_region=known_region, province_code="410000"
        )
        for checked, record in zip(checked_many, records, strict=True):
            expected = children.check_child(
                record, class_names=classes, today=TODAY, known_region=known_region, province_code="410000"
            )
            assert _exact(checked.values) == _exact(expected.values), record
            assert _exact(checked.errors) == _exact(expected.errors), record
            assert checked.warnings == expected.warnings, record
        many += checked_many
    assert sum(checked.ok for checked in many) >= 150  # the valid ones stay valid
    assert sum(not checked.ok for checked in many) > 1500  # and the hostile ones are refused
