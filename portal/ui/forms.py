"""A form drawn from field specs: the same declarations the services validate against."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from portal.data.fields import FieldSpec, Section
from portal.ui.text import md


def _widget(spec: FieldSpec, value: Any, key: str, disabled: bool) -> Any:
    label = f"{spec.label}{'（' + spec.unit + '）' if spec.unit else ''}{' *' if spec.required else ''}"
    common = {"key": key, "help": spec.help or None, "disabled": disabled}
    match spec.kind:
        case "number" | "integer":
            return st.text_input(
                label, value="" if value is None else f"{value:g}" if isinstance(value, float) else str(value), **common
            )
        case "date":
            initial = date.fromisoformat(value) if value else None
            return st.date_input(label, value=initial, min_value=date(1900, 1, 1), format="YYYY-MM-DD", **common)
        case "choice":
            options = list(spec.choices)
            index = options.index(value) if value in options else None
            return st.selectbox(label, options, index=index, placeholder="请选择", **common)
        case "multichoice":
            return st.multiselect(
                label, list(spec.choices), default=[v for v in (value or []) if v in spec.choices], **common
            )
        case "bool":
            return st.checkbox(label, value=bool(value), **common)
        case "file":
            if value:
                st.caption(f"已上传：{md(value)}")
            return st.file_uploader(label, **common)
    return st.text_input(label, value=value or "", max_chars=spec.max_length, **common)


def section_inputs(section: Section, values: dict[str, Any], key: str, disabled: bool = False) -> dict[str, Any]:
    """Draw the section's fields in two columns; return what the user entered, by field name."""
    raw: dict[str, Any] = {}
    columns = st.columns(2)
    for index, spec in enumerate(section.fields):
        with columns[index % 2]:
            raw[spec.name] = _widget(spec, values.get(spec.name), f"{key}_{spec.name}", disabled)
    return raw


def show_field_errors(section: Section, errors: dict[str, str]) -> None:
    st.error(f"{section.label}有 {len(errors)} 处需要修改：", icon=":material/error:")
    for message in errors.values():
        st.markdown(f"- {md(message)}")


def split_files(
    section: Section, raw: dict[str, Any], previous: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Take the uploaded files out of a form's values: (values with file names, files by field)."""
    values = dict(raw)
    files: dict[str, tuple[str, bytes]] = {}
    for spec in section.fields:
        if spec.kind != "file":
            continue
        upload = values.pop(spec.name, None)
        if upload is not None:
            files[spec.name] = (upload.name, upload.getvalue())
            values[spec.name] = upload.name
        else:
            values[spec.name] = previous.get(spec.name)
    return values, files
