"""Field specs: a form's fields declared once (DESIGN.md pattern 5).

The form renderer, the server-side validation, the review diff and (later) the Excel template and
export columns are all derived from these declarations. Bureau-designed supervision forms are the
same specs stored as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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
        if _empty(value) and spec.kind != "bool":
            if spec.required and check_required:
                errors[spec.name] = f"{spec.label}为必填项。"
            values[spec.name] = None
            continue
        match spec.kind:
            case "text" | "file":  # a file field holds the file's name; the file goes with the request
                text = str(value).strip()
                if len(text) > spec.max_length:
                    errors[spec.name] = f"{spec.label}不超过 {spec.max_length} 个字。"
                elif problem := text_problem(text, spec.label):
                    errors[spec.name] = problem
                values[spec.name] = text
            case "number" | "integer":
                values[spec.name] = _number(spec, value, errors)
            case "date":
                if isinstance(value, date):
                    values[spec.name] = value.isoformat()
                else:
                    try:
                        values[spec.name] = date.fromisoformat(str(value).strip()).isoformat()
                    except ValueError:
                        errors[spec.name] = f"{spec.label}应为日期，格式如 2017-09-01。"
            case "choice":
                if value not in spec.choices:
                    errors[spec.name] = f"{spec.label}应为：{'、'.join(spec.choices)}。"
                values[spec.name] = value
            case "multichoice":
                chosen = list(value) if isinstance(value, list | tuple) else [value]
                wrong = [c for c in chosen if c not in spec.choices]
                if wrong:
                    errors[spec.name] = f"{spec.label}中的“{'、'.join(map(str, wrong))}”不是可选项。"
                values[spec.name] = chosen
            case "bool":
                values[spec.name] = bool(value)
    return values, errors


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
