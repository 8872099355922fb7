"""Every audited action writes exactly one audit row (R6.5), or, where one call is by design
several audited events, exactly the rows listed.

To cover another action, add an ``AuditCase`` to ``CASES``: ``prepare`` builds what the call
needs (its audit rows are not counted) and returns whatever ``act`` wants as its second argument;
``act`` makes the one call; ``expected`` lists the actions it must write, as a multiset.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.clock import utcnow
from portal.data import db
from portal.data.child_fields import CHILD
from portal.data.models import AuditLog, Request
from portal.services import audit, child_import, children, progress, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.audit_integrity import purge_expired, verify_chain
from portal.services.institutions import InstitutionInput, register_institution
from portal.services.login import authenticate, end_session, unlock
from portal.services.regions import import_townships
from portal.settings import get_settings
from tests.conftest import DEMO_PASSWORD
from tests.factories import TODAY, child_values, with_class

Actors = dict[str, Actor]


@dataclass(frozen=True)
class AuditCase:
    name: str
    act: Callable[[Actors, Any], object]
    expected: tuple[str, ...]
    prepare: Callable[[Actors], Any] | None = None


# --- what the calls need -------------------------------------------------------------------------------


def a_saved_child(actors: Actors) -> int:
    with_class(actors["clerk"])
    return children.save_child(actors["clerk"], child_values(), today=TODAY).child_id


def a_submitted_child(actors: Actors) -> int:
    """The review request of a submitted child."""
    child_id = a_saved_child(actors)
    children.submit_children(actors["clerk"], [child_id], today=TODAY)
    with db.session_scope() as session:
        return session.exec(select(Request.id).where(Request.subject_id == str(child_id))).one()  # type: ignore[call-overload]


def failures_short_of_a_lock(_actors: Actors) -> None:
    for _ in range(get_settings().login_max_failures - 1):
        authenticate("demo-clerk", "Wrong#Password1")


def a_lock(_actors: Actors) -> None:
    for _ in range(get_settings().login_max_failures):
        authenticate("demo-clerk", "Wrong#Password1")


def children_csv(_actors: Actors) -> bytes:
    with_class(_actors["clerk"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spec.label for spec in CHILD.fields])
    values = child_values()
    writer.writerow(
        [("是" if v else "否") if isinstance(v := values.get(spec.name, ""), bool) else v for spec in CHILD.fields]
    )
    return out.getvalue().encode("utf-8")


def an_old_audit_row(_actors: Actors) -> None:
    with db.session_scope(write=True) as session:
        audit.record(session, SYSTEM_ACTOR, "demo_load").at = utcnow() - timedelta(days=400)


NEW_INSTITUTION = InstitutionInput(
    "4101220099", "中牟县刘集镇中心幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410122", "410122103", True
)

CASES = [
    AuditCase("login", lambda a, _: authenticate("demo-county", DEMO_PASSWORD), ("login",)),
    AuditCase("login failure", lambda a, _: authenticate("demo-county", "Wrong#Password1"), ("login_failed",)),
    AuditCase(
        "login failure that locks",
        lambda a, _: authenticate("demo-clerk", "Wrong#Password1"),
        ("login_failed", "lockout"),
        prepare=failures_short_of_a_lock,
    ),
    AuditCase(
        "login while locked", lambda a, _: authenticate("demo-clerk", DEMO_PASSWORD), ("login_failed",), prepare=a_lock
    ),
    AuditCase("logout", lambda a, _: end_session(a["county"]), ("logout",)),
    AuditCase("session timeout", lambda a, _: end_session(a["county"], "session_timeout"), ("session_timeout",)),
    AuditCase("unlock", lambda a, _: unlock(a["secadmin"], "demo-clerk"), ("unlock",), prepare=a_lock),
    AuditCase(
        "user create",
        lambda a, _: create_user(
            SYSTEM_ACTOR,
            NewUser(
                "clerk-new", "新填报员", Level.INSTITUTION, Duty.ENTRY, DEMO_PASSWORD, institution_code="4101220004"
            ),
        ),
        ("user_create",),
    ),
    AuditCase(
        "institution create", lambda a, _: register_institution(SYSTEM_ACTOR, NEW_INSTITUTION), ("institution_create",)
    ),
    AuditCase(
        "township import",
        lambda a, _: import_townships(a["sysadmin"], "代码,名称\n410122104,九龙镇\n".encode()),
        ("township_import",),
    ),
    AuditCase("class create", lambda a, _: with_class(a["clerk"]), ("class_create",)),
    AuditCase(
        "child create",
        lambda a, _: children.save_child(a["clerk"], child_values(), today=TODAY),
        ("child_create",),
        prepare=lambda a: with_class(a["clerk"]),
    ),
    AuditCase(
        "child update",
        lambda a, child_id: children.save_child(a["clerk"], child_values(address="新地址 1 号"), child_id, today=TODAY),
        ("child_update",),
        prepare=a_saved_child,
    ),
    AuditCase(
        "child delete",
        lambda a, child_id: children.delete_child(a["clerk"], child_id),
        ("child_delete",),
        prepare=a_saved_child,
    ),
    AuditCase(
        # one review request per child, and the submission
        "child submit",
        lambda a, child_id: children.submit_children(a["clerk"], [child_id], today=TODAY),
        ("request_submit", "child_submit"),
        prepare=a_saved_child,
    ),
    AuditCase(
        # approving the last step applies it: the child gets its student number
        "request approve",
        lambda a, request_id: workflow.decide(a["county"], request_id, "approve", today=TODAY),
        ("request_approve", "student_number_issue"),
        prepare=a_submitted_child,
    ),
    AuditCase(
        "request return",
        lambda a, request_id: workflow.decide(a["county"], request_id, "return", "证件号码有误", today=TODAY),
        ("request_return",),
        prepare=a_submitted_child,
    ),
    AuditCase(
        "personal number reveal",
        lambda a, child_id: children.reveal(a["clerk"], child_id, "document_number", "核对户口簿"),
        ("personal_reveal",),
        prepare=a_saved_child,
    ),
    AuditCase(
        "children import",
        lambda a, data: child_import.import_children(a["clerk"], "幼儿导入.csv", data, today=TODAY),
        ("child_import",),
        prepare=children_csv,
    ),
    AuditCase(
        "children export",
        lambda a, _: child_import.export_children(a["clerk"]),
        ("child_export",),
        prepare=a_saved_child,
    ),
    AuditCase(
        "progress table export",
        lambda a, _: progress.record_download(a["province"], progress.progress_table(a["province"])),
        ("data_export",),
    ),
    AuditCase("audit log export", lambda a, _: audit.export_entries(a["auditor"], fmt="xlsx"), ("data_export",)),
    AuditCase("audit chain verify", lambda a, _: verify_chain(a["auditor"]), ("audit_verify",)),
    AuditCase("audit purge", lambda a, _: purge_expired(), ("audit_purge",), prepare=an_old_audit_row),
]


def last_id() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.coalesce(func.max(AuditLog.id), 0))).one()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_audited_action_writes_exactly_its_rows(actors: Actors, case: AuditCase) -> None:
    prepared = case.prepare(actors) if case.prepare else None
    before = last_id()
    case.act(actors, prepared)
    with db.session_scope() as session:
        written = session.exec(select(AuditLog).where(col(AuditLog.id) > before).order_by(col(AuditLog.id))).all()
    assert Counter(r.action for r in written) == Counter(case.expected), [r.action for r in written]
    assert all(r.action in audit.ACTION_LABELS for r in written)
    assert verify_chain().ok
