"""Field specs: a form's fields declared once (DESIGN.md pattern 5).

The form renderer, the server-side validation, the review diff and (later) the Excel template and
export columns are all derived from these declarations. Bureau-designed supervision forms are the
same specs stored as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from portal.data.text import text_problem

FIELD_KINDS = ("text", "number", "integer", "date", "choice", "multichoice", "bool", "file")
FIELD_KIND_LABELS = {
    "text": "文本",
    "number": "数字",
    "integer": "整数",
    "date": "日期",
    "choice": "单选",
    "multichoice": "多选",
    "bool": "是/否",
    "file": "文件",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str = "text"
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    max_length: int = 200
    unit: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

    def spec(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def _number(spec: FieldSpec, raw: Any, errors: dict[str, str]) -> float | int | None:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        errors[spec.name] = f"{spec.label}应为数字。"
        return None
    if not value.is_finite():  # NaN, Infinity: Decimal reads them, no form means them
        errors[spec.name] = f"{spec.label}应为数字。"
        return None
    if value.adjusted() >= 15:  # 1e999999 would become a million-digit integer
        errors[spec.name] = f"{spec.label}的数值过大。"
        return None
    if spec.kind == "integer" and value != value.to_integral_value():
        errors[spec.name] = f"{spec.label}应为整数。"
        return None
    if spec.min_value is not None and value < Decimal(str(spec.min_value)):
        errors[spec.name] = f"{spec.label}不能小于 {spec.min_value:g}{spec.unit}。"
        return None
    if spec.max_value is not None and value > Decimal(str(spec.max_value)):
        errors[spec.name] = f"{spec.label}不能大于 {spec.max_value:g}{spec.unit}。"
        return None
    return int(value) if spec.kind == "integer" else float(value)


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list | tuple) and not raw)


# Types whose equal values are the same value to every check (not so 0.0 and -0.0, or
# Decimal("1") and Decimal("1.0"), which print differently): ``clean_many`` remembers these.
SAME_WHEN_EQUAL = frozenset({str, bool, int, type(None), date})

_UNSET = object()  # a date that is not one: the field is left out of the values, as it always was


def _clean_field(spec: FieldSpec, value: Any, *, check_required: bool) -> tuple[Any, str | None]:
    """One field's value validated and normalised: (value, None) or (value, a Chinese message
    naming the field). It depends on nothing but the spec and the value (``clean`` may reuse it)."""
    if _empty(value) and spec.kind != "bool":
        return None, (f"{spec.label}为必填项。" if spec.required and check_required else None)
    match spec.kind:
        case "text" | "file":  # a file field holds the file's name; the file goes with the request
            text = str(value).strip()
            if len(text) > spec.max_length:
                return text, f"{spec.label}不超过 {spec.max_length} 个字。"
            return text, text_problem(text, spec.label)
        case "number" | "integer":
            errors: dict[str, str] = {}
            number = _number(spec, value, errors)
            return number, errors.get(spec.name)
        case "date":
            if isinstance(value, datetime):  # a date with a time of day (a spreadsheet's date cell)
                return value.date().isoformat(), None
            if isinstance(value, date):
                return value.isoformat(), None
            try:
                return date.fromisoformat(str(value).strip()).isoformat(), None
            except ValueError:
                return _UNSET, f"{spec.label}应为日期，格式如 2017-09-01。"
        case "choice":
            if value not in spec.choices:
                return value, f"{spec.label}应为：{'、'.join(spec.choices)}。"
            return value, None
        case "multichoice":
            chosen = list(value) if isinstance(value, list | tuple) else [value]
            wrong = [c for c in chosen if c not in spec.choices]
            if wrong:
                return chosen, f"{spec.label}中的“{'、'.join(map(str, wrong))}”不是可选项。"
            return chosen, None
        case "bool":
            return bool(value), None
    return value, None


def clean(
    section: Section, raw: dict[str, Any], *, check_required: bool = True
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate and normalise the values of one section.

    Returns (values, errors); errors map a field name to a Chinese message naming the field.
    Drafts are cleaned with ``check_required=False``: what is filled must be right, gaps may stay.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in section.fields:
        value = raw.get(spec.name)
        cleaned, error = _clean_field(spec, value, check_required=check_required)
        if cleaned is not _UNSET:
            values[spec.name] = cleaned
        if error is not None:
            errors[spec.name] = error
    return values, errors


def clean_many(
    section: Section, raws: Sequence[dict[str, Any]], *, check_required: bool = True
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """``clean`` of many records, worked a column at a time: each distinct value of a column is
    checked once (a column of 10,000 rows holds a handful of distinct 民族 or 班级). The outcome
    is ``clean``'s for each record: the same values in the same order, the same errors."""
    names = [spec.name for spec in section.fields]
    if not names:
        return [({}, {}) for _ in raws]
    cleaned_columns: list[list[Any]] = []
    row_errors: dict[int, dict[str, str]] = {}
    unset: list[tuple[int, str]] = []
    for spec in section.fields:
        name = spec.name
        column = [raw.get(name) for raw in raws]
        if spec.kind != "multichoice" and set(map(type, column)) <= SAME_WHEN_EQUAL:
            keys = list(zip(map(type, column), column, strict=True))
            outcome_of = {key: _clean_field(spec, key[1], check_required=check_required) for key in set(keys)}
            outcomes = list(map(outcome_of.__getitem__, keys))
            failing = any(error is not None or value is _UNSET for value, error in outcome_of.values())
        else:  # a multichoice list is a fresh one for every record; other types are worked out each time
            outcomes = [_clean_field(spec, value, check_required=check_required) for value in column]
            failing = True
        cleaned_columns.append([value for value, _error in outcomes])
        if failing:
            for row, (value, error) in enumerate(outcomes):
                if error is not None:
                    row_errors.setdefault(row, {})[name] = error
                if value is _UNSET:
                    unset.append((row, name))
    records = [dict(zip(names, row, strict=True)) for row in zip(*cleaned_columns, strict=True)]
    for row, name in unset:
        del records[row][name]
    return [(values, row_errors.get(row, {})) for row, values in enumerate(records)]


def display(spec: FieldSpec, value: Any) -> str:
    """A value as the screens show it."""
    if value is None or value == "" or value == []:
        return "—"
    if spec.kind == "bool":
        return "是" if value else "否"
    if spec.kind == "multichoice":
        return "、".join(value)
    if spec.kind in ("number", "integer"):
        return f"{value:g}{spec.unit}" if isinstance(value, float) else f"{value}{spec.unit}"
    return str(value)


def diff(section: Section, before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, before, after) for every field whose value changes."""
    before = before or {}
    return [
        (spec.label, display(spec, before.get(spec.name)), display(spec, after.get(spec.name)))
        for spec in section.fields
        if before.get(spec.name) != after.get(spec.name)
    ]
