"""Every form's text fields, driven through their services with the whole catalogue: a clean
refusal that stores nothing, or the value stored and read back exactly (after the documented
normalisation: surrounding spaces stripped; a child's name also has its spaces collapsed and
look-alike dots folded into ·)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from portal.data import db
from portal.data.models import Institution, InstitutionDraft
from portal.services import children, registry, supervision
from portal.services.institutions import InstitutionInput, register_institution
from tests.factories import child_values
from tests.hostile.catalogue import COMPACT
from tests.hostile.conftest import TODAY, World, a_valid_child, parametrize_cases
from tests.hostile.outcome import attempt, check

_codes = itertools.count(1)


@dataclass(frozen=True)
class Form:
    """One text field of one form: how to submit a value and how to read the stored one."""

    submit: Callable[[World, str], Any]
    read: Callable[[World, Any], Any]
    max_length: int
    multiline: bool = False
    normalise: Callable[[str], str] = str.strip


def _class(world: World, text: str) -> children.ClassRow:
    return children.create_class(
        world.actors["clerk"], {"name": text, "grade": "中班", "school_year": children.school_year_of(TODAY)}
    )


def _class_name(world: World, row: children.ClassRow) -> str:
    return next(c.name for c in children.list_classes(world.actors["clerk"]) if c.id == row.id)


def _new_child(field: str) -> Callable[[World, str], Any]:
    def submit(world: World, text: str) -> int:
        values = a_valid_child(world, **{field: text})
        return children.save_child(world.actors["clerk"], values, today=TODAY).child_id

    return submit


def _stored_child(field: str) -> Callable[[World, int], Any]:
    def read(world: World, child_id: int) -> Any:
        detail = children.get_child(world.actors["clerk"], child_id)
        return detail.row.name if field == "name" else detail.values[field]

    return read


def _update_child(world: World, text: str) -> int:
    values = child_values(sequence=3, address=text)  # the saved draft of the world
    return children.save_child(world.actors["clerk"], values, world.saved_child, today=TODAY).child_id


def _draft(world: World, text: str) -> dict[str, Any]:
    return registry.save_draft(world.actors["clerk"], "base", {"principal": text, "address": "官渡镇小庙王村"})


def _draft_principal(world: World, _values: Any) -> Any:
    with db.session_scope() as session:
        draft = session.get(InstitutionDraft, (world.actors["clerk"].institution_id, "base"))
        assert draft is not None
        return json.loads(draft.data)["principal"]


def _institution(world: World, text: str) -> str:
    code = f"4101229{next(_codes):03d}"
    register_institution(
        world.actors["sysadmin"],
        InstitutionInput(code, text, "独立设置幼儿园", "民办", True, "村庄", "410122", "410122101"),
    )
    return code


def _institution_name(world: World, code: str) -> str:
    from sqlmodel import select

    with db.session_scope() as session:
        return session.exec(select(Institution.name).where(Institution.code == code)).one()


def _answer(world: World, text: str) -> int:
    supervision.answer_form(world.actors["clerk"], world.form_id, {"f1": text}, submit=False)
    return world.form_id


def _answer_value(world: World, form_id: int) -> Any:
    return next(d.values["f1"] for d in supervision.forms_due(world.actors["clerk"]) if d.form.id == form_id)


def _design(**what: Any) -> Callable[[World, str], Any]:
    def submit(world: World, text: str) -> int:
        values = {"title": "安全检查", "description": "请填报", "label": "检查说明", **what}
        values = {k: text if v is None else v for k, v in values.items()}
        form = supervision.design_form(
            world.actors["sysadmin"],
            title=values["title"],
            description=values["description"],
            due_date=TODAY + timedelta(days=7),
            fields=[supervision.FieldInput(values["label"], "text")],
        )
        return form.id or 0

    return submit


def _designed(part: str) -> Callable[[World, int], Any]:
    def read(world: World, form_id: int) -> Any:
        form = next(f for f in supervision.designed_forms(world.actors["sysadmin"]) if f.id == form_id)
        if part == "label":
            return supervision.section_of(form).fields[0].label
        return getattr(form, part)

    return read


FORMS: dict[str, Form] = {
    "class-name": Form(_class, _class_name, 50),
    "child-name": Form(_new_child("name"), _stored_child("name"), 50, normalise=children.normalise_name),
    "child-address": Form(_new_child("address"), _stored_child("address"), 200),
    "child-guardian": Form(_new_child("guardian1_name"), _stored_child("guardian1_name"), 50),
    "child-hukou": Form(_new_child("hukou_region"), _stored_child("hukou_region"), 100),
    "child-update": Form(_update_child, _stored_child("address"), 200),
    "registry-principal": Form(_draft, _draft_principal, 32),
    "institution-name": Form(_institution, _institution_name, 100),
    "supervision-answer": Form(_answer, _answer_value, 500),
    "supervision-title": Form(_design(title=None), _designed("title"), 100),
    "supervision-description": Form(_design(description=None), _designed("description"), 1000, multiline=True),
    "supervision-label": Form(_design(label=None), _designed("label"), 100),
}


# The fields that meet the whole catalogue; the others (the same validation code behind them) the
# compact one.
FULL = ("class-name", "child-name", "child-address", "institution-name", "supervision-answer")


@pytest.mark.parametrize("form", FULL)
@parametrize_cases()
def test_a_form_field_refuses_cleanly_or_stores_exactly(world: World, key: str, hostile: str, form: str) -> None:
    _submit_and_check(world, FORMS[form], hostile)


@pytest.mark.parametrize("form", [name for name in FORMS if name not in FULL])
@parametrize_cases(COMPACT)
def test_the_other_form_fields_too(world: World, key: str, hostile: str, form: str) -> None:
    _submit_and_check(world, FORMS[form], hostile)


def _submit_and_check(world: World, spec: Form, hostile: str) -> None:
    outcome = attempt(lambda: spec.submit(world, hostile))
    check(
        outcome,
        hostile,
        lambda handle: spec.read(world, handle),
        max_length=spec.max_length,
        multiline=spec.multiline,
        normalise=spec.normalise,
    )


def test_full_width_digits_in_an_id_number_are_stored_as_ascii(world: World) -> None:
    """A resident ID typed with a Chinese input method's full-width digits is the same number:
    stored in ASCII, so that its keyed hash (and the province-wide duplicate check) matches."""
    values = a_valid_child(world)
    typed = values["document_number"].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
    assert typed != values["document_number"]
    child_id = children.save_child(world.actors["clerk"], {**values, "document_number": typed}, today=TODAY).child_id
    found = children.find_by_document(world.actors["county"], "居民身份证", values["document_number"])
    assert [row.id for row in found] == [child_id]
    assert children.find_by_document(world.actors["county"], "居民身份证", typed)[0].id == child_id


def test_other_scripts_digits_are_refused_in_an_id_number(world: World) -> None:
    values = a_valid_child(world)
    arabic = values["document_number"].translate({ord(str(d)): ord("٠") + d for d in range(10)})
    outcome = attempt(lambda: children.save_child(world.actors["clerk"], {**values, "document_number": arabic}))
    assert not outcome.accepted and "只能由数字组成" in str(outcome.error)


@pytest.mark.parametrize("typed", ["NaN", "Infinity", "-inf", "1e999999", "²", "0x10", "1e15"])
def test_numbers_that_only_look_like_numbers_are_refused(world: World, typed: str) -> None:
    outcome = attempt(
        lambda: supervision.answer_form(world.actors["clerk"], world.form_id, {"f2": typed}, submit=False)
    )
    assert not outcome.accepted
