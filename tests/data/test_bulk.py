"""``bulk.insert_rows`` stores exactly what SQLAlchemy Core's insert stores: every column's type
converts the values (dates, aware datetimes, booleans), scalar defaults fill the columns left out."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, select

from portal.auth.actor import Actor
from portal.clock import utcnow
from portal.data import bulk, db
from portal.data.models import Child, Institution
from portal.services import children
from tests.factories import child_values, resident_id


def _rows(institution: Institution) -> list[dict[str, Any]]:
    rows = []
    for index, changes in enumerate(
        [
            {},
            {"flag_poverty": True, "flag_orphan": True, "guardian2_relation": "父亲", "guardian2_name": "李强"},
            {"document_type": "无证件", "document_number": None, "guardian2_phone": None},
        ]
    ):
        changes.setdefault("document_number", resident_id(sequence=index + 7))
        values = child_values(name=f"李明{'一二三'[index]}", **changes)
        values.setdefault("guardian2_phone", "13837131234" if index == 1 else None)
        checked = children.check_child(values, class_names={"小一班"}, today=date(2026, 11, 28))
        assert checked.ok, checked.errors
        rows.append(children.column_values(checked.values, institution, None))
    return rows


def _stored(session: Any, institution_id: int) -> list[dict[str, Any]]:
    table = Child.__table__
    found = session.execute(select(table).where(table.c.institution_id == institution_id).order_by(table.c.name))
    return [{key: value for key, value in row._mapping.items() if key != "id"} for row in found]


def _by_core(session: Any, institution_id: int | None, shared: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """The kindergarten's rows as Core's insert stores them, then taken out again: (stored, rows)."""
    table = Child.__table__
    institution = session.get(Institution, institution_id)
    assert institution is not None and institution.id is not None
    rows = _rows(institution)
    session.execute(insert(table), [{**row, **shared} for row in rows])
    stored = _stored(session, institution.id)
    session.execute(delete(table).where(table.c.institution_id == institution.id))
    return stored, rows


def _shared() -> dict[str, Any]:
    now = utcnow()
    return {
        "state": "saved",
        "return_reason": "",
        "version": 1,
        "created_by": None,
        "created_at": now,
        "updated_at": now,
    }


def test_insert_rows_stores_what_core_stores(actors: dict[str, Actor]) -> None:
    shared = _shared()
    now = shared["created_at"]
    table = Child.__table__
    institution_id = actors["clerk"].institution_id
    with db.session_scope(write=True) as session:
        by_core, rows = _by_core(session, institution_id, shared)
        assert bulk.insert_rows(session, table, rows, shared=shared) == 3
        by_bulk = _stored(session, institution_id)
    assert len(by_core) == 3
    assert by_bulk == by_core
    stored = {row["name"]: row for row in by_bulk}
    assert stored["李明一"]["closed_reason"] == ""  # a scalar default of a column left out
    assert stored["李明二"]["flag_poverty"] is True and stored["李明一"]["flag_poverty"] is False
    assert stored["李明一"]["created_at"] == now and stored["李明一"]["birth_date"] == date(2022, 3, 15)
    assert stored["李明三"]["id_cipher"] is None and stored["李明二"]["guardian2_phone_cipher"] is not None


def test_insert_rows_refuses_a_left_out_callable_default_and_writes_nothing(database: str) -> None:
    table = Table(
        "bulk_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(20)),
        Column("stamp", String(40), default=lambda: "now"),
    )
    engine = db.get_engine()
    table.create(engine)
    try:
        with pytest.raises(ValueError, match=r"bulk_probe\.stamp"):
            with db.session_scope(write=True) as session:
                bulk.insert_rows(session, table, [{"name": "甲"}])
        with db.session_scope(write=True) as session:
            assert bulk.insert_rows(session, table, []) == 0
            assert bulk.insert_rows(session, table, [{"name": "乙", "stamp": "x"}]) == 1
            assert session.execute(select(table.c.name, table.c.stamp)).all() == [("乙", "x")]
    finally:
        table.drop(engine)


def test_the_writer_stores_chunks_as_core_would_and_nothing_when_the_block_fails(actors: dict[str, Actor]) -> None:
    shared = _shared()
    table = Child.__table__
    institution_id = actors["clerk"].institution_id
    with db.session_scope(write=True) as session:
        by_core, rows = _by_core(session, institution_id, shared)
        with bulk.Writer(session, table, shared=shared) as writer:
            writer.write(rows[:1])
            writer.write(rows[1:])  # PostgreSQL: the same COPY, still open
            writer.flush()  # the session is usable again
            assert len(_stored(session, institution_id)) == 3
            writer.write([])
        assert writer.written == 3
        assert _stored(session, institution_id) == by_core
    with pytest.raises(RuntimeError, match="停止"):
        with db.session_scope(write=True) as session:
            institution = session.get(Institution, institution_id)
            assert institution is not None
            with bulk.Writer(session, table, shared=shared) as writer:
                writer.write(_rows(institution))
                raise RuntimeError("停止")  # as a progress callback whose page went away
    with db.session_scope() as session:
        assert _stored(session, institution_id) == by_core  # the three of before, none added
