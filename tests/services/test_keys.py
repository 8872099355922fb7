"""Rotating the encryption key: every sealed value still opens (with the new key only), every
look-up still finds its record, a bad key or an unreadable value changes nothing, and the registry
knows every sealed column and context in the code."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, text, update
from sqlmodel import SQLModel, select

from portal.data import crypto, db
from portal.data.models import AuditLog, Child, Request, SchoolClass, User
from portal.services import children, key_changes, keys, workflow
from portal.services.backup import table_fingerprints
from portal.services.demo import DEMO_PDF, load_demo
from portal.services.keys import KeyRotationError, rotate_encryption_key
from portal.settings import reset_settings_cache
from tests.conftest import DEMO_PASSWORD, actor_for, load_henan_regions
from tests.factories import TODAY, child_values, resident_id, with_class

OLD = "test-encryption-key-" + "y" * 32  # tests/conftest.py's portal_env
NEW = "rotated-encryption-key-" + "n" * 32
TOTP = "JBSWY3DPEHPK3PXP"
PORTAL = Path(__file__).resolve().parents[2] / "portal"


def _use_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", key)
    reset_settings_cache()


@pytest.fixture
def sealed_everywhere(database: str) -> dict[str, Any]:
    """The full demo, plus a child with a second guardian, a pending key change of a document number
    (a sealed value in a request's payload) and an account with a second-factor secret."""
    load_henan_regions()
    load_demo(DEMO_PASSWORD)
    clerk = actor_for("demo-clerk")
    school_class = with_class(clerk, "小九班")
    saved = children.save_child(
        clerk,
        child_values(
            name="赵安然",
            class_name=school_class.name,
            guardian2_relation="父亲",
            guardian2_name="赵强",
            guardian2_phone="13800138000",
            sequence=77,
        ),
        today=TODAY,
    )
    with db.session_scope() as session:
        pending = {
            int(r.subject_id)
            for r in session.exec(
                select(Request).where(Request.kind == "child_key_change", Request.state == "pending")
            ).all()
        }
        child = next(
            c
            for c in session.exec(select(Child).where(Child.institution_id == clerk.institution_id)).all()
            if c.state == "approved" and c.id not in pending
        )
    new_number = resident_id(birth=child.birth_date, sequence=88, male=child.gender == "男")
    request = key_changes.request_key_change(
        clerk, child.id, {"document_number": new_number}, "证件号码登记有误，监护人申请更正", [("申请书.pdf", DEMO_PDF)]
    )
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == "demo-sysadmin")).one()
        user.totp_secret = crypto.encrypt(TOTP, keys.TOTP_CONTEXT)
        session.add(user)
    return {"new_child": saved.child_id, "key_change": request.id, "changed_child": child.id, "new_number": new_number}


def _sealed_plaintexts(key: str | None = None) -> dict[tuple[str, Any, str], str]:
    """Every sealed value of the database, opened: {(table, row key, column or JSON key): plaintext}."""
    found: dict[tuple[str, Any, str], str] = {}
    with db.get_engine().connect() as conn:
        for sealed in keys.SEALED:
            table = SQLModel.metadata.tables[sealed.table]
            pk = next(iter(table.primary_key.columns))
            for row_key, token in conn.execute(select(pk, table.c[sealed.column])).all():
                if token:
                    found[(sealed.table, row_key, sealed.column)] = crypto.decrypt(token, sealed.context, key=key)
        for item in keys.SEALED_IN_JSON:
            table = SQLModel.metadata.tables[item.table]
            for row_key, document in conn.execute(select(table.c.id, table.c[item.column])).all():
                for name, token in re.findall(r'"(\w+_cipher)":\s*"(v1:[^"]+)"', document or ""):
                    if name == item.key:
                        found[(item.table, row_key, f"{item.column}.{name}")] = crypto.decrypt(
                            token, item.context, key=key
                        )
    return found


def _tokens() -> list[tuple[str, str]]:
    """(token, context) of every sealed value stored now."""
    tokens = []
    with db.get_engine().connect() as conn:
        for sealed in keys.SEALED:
            table = SQLModel.metadata.tables[sealed.table]
            tokens += [(t, sealed.context) for (t,) in conn.execute(select(table.c[sealed.column])).all() if t]
        for (payload,) in conn.execute(select(Request.payload)).all():
            tokens += [(t, children.CTX_DOCUMENT) for t in re.findall(r'"document_cipher":\s*"(v1:[^"]+)"', payload)]
    return tokens


def test_rotation_keeps_every_value_and_every_lookup(
    sealed_everywhere: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _sealed_plaintexts()
    columns = {name for _t, _k, name in before}
    assert {
        "id_cipher",
        "guardian1_phone_cipher",
        "guardian2_phone_cipher",
        "student_number_cipher",
        "origin_number_cipher",
        "totp_secret",
        "payload.document_cipher",
    } <= columns
    with db.session_scope() as session:
        child_count = len(session.exec(select(Child.id)).all())

    result = rotate_encryption_key(NEW, batch=4)  # several batches
    assert (result.children, result.users, result.requests) == (child_count, 1, 1)
    assert result.values == len(before) and result.mismatched == {}

    # The old key opens nothing any more; the new key opens everything to the same plaintext.
    tokens = _tokens()
    assert len(tokens) == len(before)
    for token, context in tokens:
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, context, key=OLD)
    _use_key(monkeypatch, NEW)
    assert _sealed_plaintexts() == before

    # Every look-up finds its record with the new key.
    province = actor_for("demo-province")
    with db.session_scope() as session:
        rows = session.exec(select(Child)).all()
        classes = {c.id: c.name for c in session.exec(select(SchoolClass)).all()}
        for child in rows:
            number = children.decrypt_field(child.id_cipher, children.CTX_DOCUMENT)
            if number:
                assert child.id_hash == children.document_hash(child.document_type, number)
            assert child.identity_hash == children.identity_key(child.name, child.gender, child.birth_date.isoformat())
            phone = children.decrypt_field(child.guardian2_phone_cipher, children.CTX_PHONE)
            assert child.guardian2_phone_hash == (crypto.lookup_hash(phone, children.CTX_PHONE) if phone else None)
            if child.student_number_hash:
                assert children.number_holder(session, children.number_of(child)).id == child.id  # type: ignore[union-attr]
            # The content hash still says "unchanged" for the record's own values (the import's test).
            values = key_changes._plain_values(child, classes.get(child.class_id, ""))
            checked = children.check_child(values, class_names=[classes.get(child.class_id, "")], today=date.today())
            assert child.content_hash == children.content_key(checked.values)
    new_child = sealed_everywhere["new_child"]
    number = before[("child", new_child, "id_cipher")]
    assert [r.id for r in children.find_by_document(province, "居民身份证", number)] == [new_child]

    # The pending key change, sealed with the old key, applies with the new one.
    workflow.decide(actor_for("demo-reviewer"), sealed_everywhere["key_change"], "approve")
    found = children.find_by_document(province, "居民身份证", sealed_everywhere["new_number"])
    assert [r.id for r in found] == [sealed_everywhere["changed_child"]]

    # One audit row, without any key material.
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "key_rotate")).all()
    assert len(rows) == 1
    written = f"{rows[0].detail}{rows[0].before}{rows[0].after}{rows[0].object_id}"
    assert OLD not in written and NEW not in written and "幼儿记录" in written


@pytest.mark.parametrize(
    "bad",
    ["short-key", OLD, "has a space in it but is long enough 12345", 'quote"' + "q" * 40, "密钥" * 20],
)
def test_a_bad_new_key_is_refused_and_nothing_changes(database: str, bad: str) -> None:
    load_henan_regions()
    load_demo(DEMO_PASSWORD, with_requests=False)
    before = table_fingerprints(db.get_engine())
    with pytest.raises(KeyRotationError, match="未做任何修改"):
        rotate_encryption_key(bad)
    assert table_fingerprints(db.get_engine()) == before


def test_a_value_the_current_key_cannot_open_rolls_everything_back(sealed_everywhere: dict[str, Any]) -> None:
    child: Table = Child.__table__  # type: ignore[attr-defined]
    foreign = crypto.encrypt("13900000000", children.CTX_PHONE, key="another-key-" + "z" * 40)
    with db.get_engine().begin() as conn:
        last = conn.execute(text("SELECT max(id) FROM child")).scalar_one()
        conn.execute(update(child).where(child.c.id == last).values(guardian1_phone_cipher=foreign))
    before = table_fingerprints(db.get_engine())
    with pytest.raises(KeyRotationError, match=rf"id {last}）的 guardian1_phone_cipher 无法用当前密钥解密"):
        rotate_encryption_key(NEW, batch=2)  # the earlier batches were written, then rolled back
    assert table_fingerprints(db.get_engine()) == before


# --- the registry guard ---------------------------------------------------------------------------


def test_every_sealed_or_keyed_column_is_in_the_registry() -> None:
    known = {f"{s.table}.{s.column}" for s in keys.SEALED} | {f"{k.table}.{k.column}" for k in keys.KEYED}
    for item in keys.SEALED_IN_JSON:
        assert item.column in SQLModel.metadata.tables[item.table].c
    named = {
        f"{table.name}.{column.name}"
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if re.search(r"(_cipher|_hash|_secret|_token|_key)$", column.name)
    }
    unknown = named - known - set(keys.NOT_KEYED)
    assert not unknown, (
        f"columns that look sealed or keyed but that portal/services/keys.py does not know: {sorted(unknown)} "
        "(add them to SEALED/KEYED, or to NOT_KEYED with the reason)"
    )
    assert known <= named | {"user_account.totp_secret"}


def _crypto_contexts() -> set[tuple[str, str]]:
    """(file, context) of every crypto.encrypt/decrypt/lookup_hash call in portal/, the context
    evaluated in its module."""
    import importlib

    found = set()
    for path in sorted(PORTAL.rglob("*.py")):
        if path.name == "crypto.py" and path.parent.name == "data":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = None
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"encrypt", "decrypt", "lookup_hash"}
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "crypto"
            ):
                continue
            argument = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "context"), None)
            )
            if argument is None:
                found.add((str(path), ""))
                continue
            if module is None:
                name = ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts)
                module = importlib.import_module(name)
            try:
                value = eval(compile(ast.Expression(argument), str(path), "eval"), vars(module))
            except NameError:  # a local variable (e.g. a loop over the registry's contexts)
                continue
            found.add((str(path), value))
    return found


def test_every_crypto_context_in_the_code_is_in_the_registry() -> None:
    contexts = _crypto_contexts()
    assert contexts, "the scan found no crypto call"
    unknown = {(Path(f).relative_to(PORTAL.parent).as_posix(), c) for f, c in contexts if c not in keys.CONTEXTS}
    assert not unknown, (
        f"values sealed or hashed under contexts that key rotation does not know: {sorted(unknown)} "
        "(register the columns that hold them in portal/services/keys.py)"
    )


def test_every_sealed_value_in_json_is_in_the_registry() -> None:
    """A "something_cipher" key in a dict that is not a column is a sealed value kept in JSON."""
    keys_in_code = set()
    for path in PORTAL.rglob("*.py"):
        keys_in_code |= set(re.findall(r"""["'](\w+_cipher)["']\s*:""", path.read_text(encoding="utf-8")))
    columns = {s.column for s in keys.SEALED}  # dicts of a row's columns, for inserts
    assert keys_in_code - columns <= {item.key for item in keys.SEALED_IN_JSON}
    assert "document_cipher" in keys_in_code


def test_update_secrets_file_keeps_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(
        '# comment\n[portal]\ncookie_key = "c"\nencryption_key = "old"\n\n[other]\nencryption_key = "not ours"\n',
        encoding="utf-8",
    )
    keys.update_secrets_file(NEW, path)
    assert path.read_text(encoding="utf-8") == (
        f'# comment\n[portal]\ncookie_key = "c"\nencryption_key = "{NEW}"\n\n[other]\nencryption_key = "not ours"\n'
    )
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text('[portal]\ncookie_key = "c"\n', encoding="utf-8")
    with pytest.raises(KeyRotationError, match="没有 encryption_key"):
        keys.update_secrets_file(NEW, path)
