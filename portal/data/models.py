"""The tables of the portal (SQLModel).

Rows that belong to a place carry ``province_code``, ``city_code`` and ``county_code`` so that the
scope filter of the policy and the dashboards' group-bys are index-driven (DESIGN.md pattern 3).
Datetimes are aware UTC (``UTCDateTime``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from portal.clock import utcnow
from portal.data.types import Hundredths, UTCDateTime


def _utc_column(nullable: bool = False, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _money_column(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    """Money in yuan to the cent (or a percentage to two places): an exact decimal, never a float."""
    return Column(Hundredths(), nullable=nullable)


class Region(SQLModel, table=True):
    """An administrative division (GB/T 2260 code; townships GB/T 10114, 9 digits)."""

    __tablename__ = "region"

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=64)
    level: str = Field(max_length=16, index=True)  # province / city / county / township
    parent_code: str | None = Field(default=None, foreign_key="region.code", index=True, max_length=12)
    province_code: str = Field(max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    longitude: float | None = None
    latitude: float | None = None
    source: str = Field(default="cpca", max_length=16)


class Institution(SQLModel, table=True):
    """A preschool institution (学前教育机构). The full registry comes with the review engine."""

    __tablename__ = "institution"
    __table_args__ = (Index("ix_institution_county_kind", "county_code", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=10, unique=True)  # 机构标识码, 10 digits
    name: str = Field(max_length=100, index=True)
    kind: str = Field(max_length=16)  # 独立设置幼儿园 / 附设幼儿班 / 学前班
    ownership: str = Field(max_length=8)  # 公办 / 民办
    inclusive: bool = False  # 普惠性
    urban_rural: str = Field(max_length=16)  # 城乡分类
    is_township_central: bool = False  # 乡镇中心园
    province_code: str = Field(max_length=2, index=True)
    city_code: str = Field(max_length=6, index=True)
    county_code: str = Field(foreign_key="region.code", max_length=6, index=True)
    township_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class User(SQLModel, table=True):
    """An account. Real name and phone make every action answerable (Notice 四.1)."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    real_name: str = Field(max_length=64)
    phone: str = Field(default="", max_length=32)
    level: str = Field(max_length=16, index=True)
    duty: str = Field(max_length=16)
    region_code: str | None = Field(default=None, foreign_key="region.code", max_length=12)
    institution_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    province_code: str | None = Field(default=None, max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    township_code: str | None = Field(default=None, max_length=12)
    password_hash: str = Field(max_length=128)
    is_active: bool = True
    is_demo: bool = Field(default=False, index=True)
    must_change_password: bool = False
    session_version: int = 1  # bumped to end every open session of the user
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    last_login_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # When the password was last set by its owner (None: set by an administrator, to be changed).
    password_changed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # A temporary password from an administrator's reset: valid until this time, single use.
    temp_password_expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    temp_password_used: bool = False
    # The TOTP second factor: the secret encrypted (crypto.encrypt, context "user.totp_secret"),
    # the last time step accepted (a code is never accepted twice).
    totp_secret: str | None = Field(default=None, max_length=200)
    totp_last_step: int | None = None
    disabled_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    disabled_reason: str = Field(default="", max_length=200)


class SecurityPolicy(SQLModel, table=True):
    """The security administrator's choices of the password policy, one row per item; an item
    without a row takes its setting (portal/settings.py)."""

    __tablename__ = "security_policy"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=64)
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class PasswordHistory(SQLModel, table=True):
    """The hashes of a user's earlier passwords, so that the last few are not used again."""

    __tablename__ = "password_history"
    __table_args__ = (Index("ix_password_history_user", "user_id", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    password_hash: str = Field(max_length=128)
    changed_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class PasswordLoan(SQLModel, table=True):
    """Lending a password (§18.3): asked by the owner, approved by an administrator, recorded with
    whom it is lent to, why and until when. Actions during the loan carry its id in the audit log;
    when it ends the password must be changed before the next use."""

    __tablename__ = "password_loan"
    __table_args__ = (Index("ix_password_loan_user_state", "user_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    borrower_name: str = Field(max_length=64)
    borrower_phone: str = Field(default="", max_length=32)
    reason: str = Field(max_length=500)
    starts_at: datetime = Field(sa_column=_utc_column())
    ends_at: datetime = Field(sa_column=_utc_column())
    state: str = Field(default="requested", max_length=16, index=True)  # requested/approved/refused/ended
    requested_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    decided_by: int | None = Field(default=None, foreign_key="user_account.id")
    decided_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    decision_note: str = Field(default="", max_length=500)
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    province_code: str | None = Field(default=None, max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    township_code: str | None = Field(default=None, max_length=12)
    institution_id: int | None = Field(default=None, index=True)


class AccountGrant(SQLModel, table=True):
    """The register of grants (§18.1): every role given, changed or taken away, filed with the level
    above. The region columns are the grantee's, so the level above reads them in its scope."""

    __tablename__ = "account_grant"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(index=True))
    change: str = Field(max_length=16)  # grant / change / revoke / restore
    grantor_id: int | None = Field(default=None, foreign_key="user_account.id")
    grantor_username: str = Field(max_length=64)
    grantor_real_name: str = Field(max_length=64)
    grantor_role: str = Field(max_length=64)
    grantee_id: int = Field(foreign_key="user_account.id", index=True)
    grantee_username: str = Field(max_length=64)
    grantee_real_name: str = Field(max_length=64)
    role: str = Field(max_length=64)  # the role in words, e.g. 县级审核员
    level: str = Field(max_length=16)
    duty: str = Field(max_length=16)
    previous_role: str = Field(default="", max_length=64)
    scope: str = Field(default="", max_length=200)  # the grantee's region or institution in words
    reason: str = Field(default="", max_length=500)
    province_code: str | None = Field(default=None, max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    township_code: str | None = Field(default=None, max_length=12)
    institution_id: int | None = Field(default=None, index=True)


class LoginFailure(SQLModel, table=True):
    """One failed login, by the name typed (known or not), so unknown names behave the same."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class AccountLock(SQLModel, table=True):
    """A lock on a login name after too many failures; it lifts by itself at ``locked_until``."""

    __tablename__ = "account_lock"

    username: str = Field(primary_key=True, max_length=64)
    locked_at: datetime = Field(sa_column=_utc_column())
    locked_until: datetime = Field(sa_column=_utc_column(index=True))


class AuditLog(SQLModel, table=True):
    """The audit trail. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(index=True))
    user_id: int | None = Field(default=None, index=True)
    username: str = Field(default="", max_length=64)
    real_name: str = Field(default="", max_length=64)
    role: str = Field(default="", max_length=64)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(default="", max_length=32)
    object_id: str = Field(default="", max_length=64)
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    detail: str = Field(default="", max_length=500)
    province_code: str | None = Field(default=None, max_length=2)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    outcome: str = Field(default="success", max_length=16)  # success / failure / denied
    session_id: str = Field(default="", max_length=32, index=True)  # the login session it belongs to
    loan_id: int | None = Field(default=None, index=True)  # set while the account's password is lent
    # The hash chain: each row carries the hash of the one before it (by id) and its own.
    prev_hash: str = Field(default="", max_length=64)
    row_hash: str = Field(default="", max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The end of the audit hash chain: one row, locked by every commit that appends audit rows, so
    that appends are serialised and ids follow commit order. ``anchor_*`` is the last purged row."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = 0
    last_hash: str = Field(default="", max_length=64)
    anchor_id: int = 0
    anchor_hash: str = Field(default="", max_length=64)


class Request(SQLModel, table=True):
    """Anything that needs approval (DESIGN.md pattern 4): one row, whatever its kind.

    ``route`` lists the keys of the workflow steps that apply to this request (decided at
    submission), ``step`` indexes it; ``step_level`` is the level that acts now (for the queue's
    index). ``version`` grows with every decision so that two reviewers cannot both decide.
    """

    __tablename__ = "request"
    __table_args__ = (Index("ix_request_queue", "state", "step_level", "county_code"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    title: str = Field(max_length=200)
    subject_type: str = Field(max_length=32)
    subject_id: str = Field(max_length=64, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON: the proposed values
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON: the values replaced
    route: str = Field(max_length=500)  # JSON list of step keys
    step: int = 0
    step_level: str | None = Field(default=None, max_length=16)
    state: str = Field(max_length=16, index=True)  # pending / approved / returned / acknowledged
    due_date: date | None = None
    version: int = 1
    institution_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    province_code: str | None = Field(default=None, max_length=2)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6)
    township_code: str | None = Field(default=None, max_length=12, index=True)
    submitted_by: int = Field(foreign_key="user_account.id")
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class RequestEvent(SQLModel, table=True):
    """The history of a request: who did what, when, at which step, with what reason."""

    __tablename__ = "request_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    real_name: str = Field(default="", max_length=64)
    role: str = Field(default="", max_length=64)
    action: str = Field(max_length=16)  # submit / approve / return / acknowledge
    step_key: str = Field(default="", max_length=32)
    reason: str = Field(default="", max_length=1000)


class EvidenceFile(SQLModel, table=True):
    """A file attached to a request, stored outside any served folder under a generated name."""

    __tablename__ = "evidence_file"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    filename: str = Field(max_length=200)  # the name the user gave, for display only
    stored_name: str = Field(max_length=64, unique=True)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_by: int = Field(foreign_key="user_account.id")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class InstitutionRecord(SQLModel, table=True):
    """An institution's approved information, one row per section (the record of truth).

    ``data`` is the JSON of the section's fields, as declared in ``portal.data.fields``.
    """

    __tablename__ = "institution_record"

    institution_id: int = Field(foreign_key="institution.id", primary_key=True)
    section: str = Field(primary_key=True, max_length=32)
    data: str = Field(sa_column=Column(Text, nullable=False))
    filled_by: int | None = Field(default=None, foreign_key="user_account.id")
    reviewed_by: int | None = Field(default=None, foreign_key="user_account.id")
    request_id: int | None = Field(default=None, foreign_key="request.id")
    approved_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class InstitutionDraft(SQLModel, table=True):
    """A section the clerk is still filling: saved, not yet submitted."""

    __tablename__ = "institution_draft"

    institution_id: int = Field(foreign_key="institution.id", primary_key=True)
    section: str = Field(primary_key=True, max_length=32)
    data: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: int = Field(foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class SupervisionForm(SQLModel, table=True):
    """A supervision form (监管信息) a bureau designs at run time: field specs stored as data.

    It reaches the institutions in the designer's region (``province_code`` / ``city_code`` /
    ``county_code``, as far down as the designer's level).
    """

    __tablename__ = "supervision_form"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=100)
    description: str = Field(default="", max_length=1000)
    fields: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of field specs
    state: str = Field(default="draft", max_length=16)  # draft / published
    due_date: date
    level: str = Field(max_length=16)  # the designer's level: province / city / county
    province_code: str | None = Field(default=None, max_length=2)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    created_by: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    published_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class SupervisionAnswer(SQLModel, table=True):
    """One institution's answer to a supervision form."""

    __tablename__ = "supervision_answer"
    __table_args__ = (Index("ux_supervision_answer", "form_id", "institution_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    form_id: int = Field(foreign_key="supervision_form.id", index=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    data: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="draft", max_length=16)  # draft / submitted / approved / returned
    request_id: int | None = Field(default=None, foreign_key="request.id")
    updated_by: int = Field(foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class SchoolClass(SQLModel, table=True):
    """A class of an institution in one school year (§26.4: classes come before children)."""

    __tablename__ = "school_class"
    __table_args__ = (Index("ux_school_class_name", "institution_id", "school_year", "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    school_year: str = Field(max_length=9)  # 2026-2027
    grade: str = Field(max_length=8)  # 托班 / 小班 / 中班 / 大班 / 学前班 / 混龄
    name: str = Field(max_length=50)
    capacity: int  # the usual size; going over it is a warning, not an error
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Child(SQLModel, table=True):
    """A child's record (幼儿学籍). Personal numbers are stored encrypted (``*_cipher``) with a keyed
    hash (``*_hash``) for equality look-ups and uniqueness (DESIGN.md pattern 7).

    ``state``: saved → submitted → approved, or returned; ``problem`` when the province-wide
    duplicate check fails; ``deleted`` (still visible to the county, restorable on request).
    ``identity_hash`` keys name + gender + birth date, the duplicate check for children without a
    document. ``content_hash`` keys the whole cleaned record, so that a re-import sees "unchanged".
    """

    __tablename__ = "child"
    __table_args__ = (
        Index("ix_child_scope", "county_code", "state"),
        Index("ix_child_institution_state", "institution_id", "state"),
        Index("ix_child_id_hash", "id_hash", "province_code", "state"),  # the duplicate check reads it alone
        Index("ix_child_identity_hash", "identity_hash"),
        Index("ux_child_student_number", "student_number_hash", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id")
    class_id: int | None = Field(default=None, foreign_key="school_class.id", index=True)
    province_code: str = Field(max_length=2)
    city_code: str = Field(max_length=6, index=True)
    county_code: str = Field(max_length=6)
    township_code: str | None = Field(default=None, max_length=12, index=True)
    name: str = Field(max_length=50)
    gender: str = Field(max_length=2)
    birth_date: date
    document_type: str = Field(max_length=16)
    id_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    id_hash: str | None = Field(default=None, max_length=64)
    identity_hash: str = Field(max_length=64)
    nationality: str = Field(default="中国", max_length=16)
    ethnicity: str = Field(default="汉族", max_length=16)
    hukou_region: str = Field(default="", max_length=100)
    address: str = Field(default="", max_length=200)
    guardian1_relation: str = Field(default="", max_length=8)
    guardian1_name: str = Field(default="", max_length=50)
    guardian1_phone_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    guardian1_phone_hash: str | None = Field(default=None, max_length=64, index=True)
    guardian2_relation: str = Field(default="", max_length=8)
    guardian2_name: str = Field(default="", max_length=50)
    guardian2_phone_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    guardian2_phone_hash: str | None = Field(default=None, max_length=64)
    enrolment_date: date
    flag_poverty: bool = False
    flag_disabled: bool = False
    flag_left_behind: bool = False
    flag_orphan: bool = False
    state: str = Field(default="saved", max_length=16)
    return_reason: str = Field(default="", max_length=1000)
    student_number_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    student_number_hash: str | None = Field(default=None, max_length=64)
    student_number_kind: str | None = Field(default=None, max_length=1)  # G / J / L
    numbered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    request_id: int | None = Field(default=None, foreign_key="request.id")
    dispute_id: int | None = Field(default=None, index=True)
    closed_on: date | None = None  # graduated or left on this day; the record keeps its number
    closed_reason: str = Field(default="", max_length=200)
    content_hash: str = Field(default="", max_length=64)
    # Transferred in from another province (§27.3): the province and the number it gave the child,
    # which the child keeps when the record passes review here.
    origin_province: str = Field(default="", max_length=20)
    origin_number_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    version: int = 1


class NumberSequence(SQLModel, table=True):
    """The last sequence used per student-number prefix (J/L + region + birth date). Taking the
    next one is an UPDATE on this row, so concurrent approvals queue on its lock."""

    __tablename__ = "number_sequence"

    prefix: str = Field(primary_key=True, max_length=20)
    last: int = 0


class Dispute(SQLModel, table=True):
    """Two records that the duplicate check found to be one child (问题学籍), until it is resolved.

    ``child_id`` is the record that failed the check; ``other_child_id`` the record it collided
    with. The arbitrating level is the lowest bureau above both institutions; the scope codes are
    the ones they share, so that the policy's filter finds the arbitrator.
    """

    __tablename__ = "dispute"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # same_id / same_identity
    child_id: int = Field(foreign_key="child.id", index=True)
    other_child_id: int = Field(foreign_key="child.id", index=True)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    other_institution_id: int = Field(foreign_key="institution.id", index=True)
    level: str = Field(max_length=16)  # county / city / province
    province_code: str = Field(max_length=2)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    state: str = Field(default="open", max_length=16, index=True)  # open / arbitration / decided / closed
    outcome: str = Field(default="", max_length=16)  # keep_child / keep_other / different / deleted / corrected
    reason: str = Field(default="", max_length=1000)
    decided_by: int | None = Field(default=None, foreign_key="user_account.id")
    decided_by_name: str = Field(default="", max_length=64)
    decided_role: str = Field(default="", max_length=64)
    opened_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class DisputeProof(SQLModel, table=True):
    """A proof file (佐证) one side of a dispute files: parents' documents, household register."""

    __tablename__ = "dispute_proof"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    institution_id: int = Field(foreign_key="institution.id")
    note: str = Field(default="", max_length=1000)
    filename: str = Field(max_length=200)
    stored_name: str = Field(max_length=64, unique=True)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_by: int = Field(foreign_key="user_account.id")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class CycleEvent(SQLModel, table=True):
    """A step of an institution's yearly cycle once applied (promotion into a school year), so
    that it is never applied twice (Notice 三.2: July graduation, August promotion)."""

    __tablename__ = "cycle_event"
    __table_args__ = (Index("ux_cycle_event", "institution_id", "kind", "school_year", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    institution_id: int = Field(foreign_key="institution.id")
    kind: str = Field(max_length=16)  # promotion
    school_year: str = Field(max_length=9)  # the school year promoted into
    children: int = 0
    applied_by: int | None = Field(default=None, foreign_key="user_account.id")
    applied_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Transfer(SQLModel, table=True):
    """A child's transfer between two institutions of the province (转园, §27.3).

    Its steps are two requests of the review engine: ``out_request_id`` at the sending institution
    (it agrees; its county reviews across counties) and ``in_request_id`` at the receiving one (its
    county reviews across counties; the receiver completes it into a class). ``open_child_id`` is
    the child's id while the transfer is open and NULL once it is closed: its unique index keeps a
    child in one open transfer at most. ``due_date`` is the whole transfer's deadline.
    """

    __tablename__ = "child_transfer"
    __table_args__ = (
        Index("ux_transfer_open_child", "open_child_id", unique=True),
        Index("ix_transfer_from_county", "from_county_code", "state"),
        Index("ix_transfer_to_county", "to_county_code", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="child.id", index=True)
    open_child_id: int | None = Field(default=None)
    child_name: str = Field(max_length=50)
    from_institution_id: int = Field(foreign_key="institution.id", index=True)
    to_institution_id: int = Field(foreign_key="institution.id", index=True)
    from_province_code: str = Field(max_length=2)
    from_city_code: str = Field(max_length=6)
    from_county_code: str = Field(max_length=6)
    to_province_code: str = Field(max_length=2)
    to_city_code: str = Field(max_length=6)
    to_county_code: str = Field(max_length=6)
    counties_review: bool = False
    class_id: int | None = Field(default=None, foreign_key="school_class.id")
    reason: str = Field(default="", max_length=200)
    state: str = Field(default="sender", max_length=16)
    out_request_id: int | None = Field(default=None, foreign_key="request.id")
    in_request_id: int | None = Field(default=None, foreign_key="request.id")
    started_on: date
    due_date: date
    started_by: int | None = Field(default=None, foreign_key="user_account.id")
    started_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    closed_by_name: str = Field(default="", max_length=50)
    closed_reason: str = Field(default="", max_length=500)
    version: int = 1


class InstitutionProgress(SQLModel, table=True):
    """One institution's figures for the progress table (附件2), kept current in the transaction of
    every change that moves them (``portal.data.counters``), rebuildable from the rows.

    ``reported``: its base information was submitted at least once; ``reviewed``: approved.
    ``numbered``: children in school with a student number; ``entered``: children entered and not
    (yet) approved. The institution's kind, ownership, inclusiveness and urban–rural class are
    copied here, so that the dashboard's filters need no join."""

    __tablename__ = "institution_progress"

    institution_id: int = Field(foreign_key="institution.id", primary_key=True)
    province_code: str = Field(max_length=2)
    city_code: str = Field(max_length=6)
    county_code: str = Field(max_length=6, index=True)
    township_code: str | None = Field(default=None, max_length=12)
    kind: str = Field(max_length=16)
    ownership: str = Field(max_length=8)
    inclusive: bool = False
    urban_rural: str = Field(max_length=16)
    reported: int = 0
    reviewed: int = 0
    numbered: int = 0
    entered: int = 0


class RegionProgress(SQLModel, table=True):
    """The sums of ``institution_progress`` per county and per combination of the dashboard's
    filters: a province's table reads a few thousand rows whatever the number of institutions."""

    __tablename__ = "region_progress"

    county_code: str = Field(max_length=6, primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)
    ownership: str = Field(max_length=8, primary_key=True)
    inclusive: bool = Field(default=False, primary_key=True)
    urban_rural: str = Field(max_length=16, primary_key=True)
    province_code: str = Field(max_length=2, index=True)
    city_code: str = Field(max_length=6, index=True)
    institutions: int = 0
    reported: int = 0
    reviewed: int = 0
    numbered: int = 0
    entered: int = 0


class StatBaseline(SQLModel, table=True):
    """The education statistics' figures per county and year (统计在园幼儿数, and the institution
    count where the bureau keeps one): the denominators of the progress table."""

    __tablename__ = "stat_baseline"

    county_code: str = Field(max_length=6, primary_key=True)
    year: int = Field(primary_key=True)
    province_code: str = Field(max_length=2, index=True)
    city_code: str = Field(max_length=6)
    children: int = 0
    institutions: int | None = None
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class MonthEndSnapshot(SQLModel, table=True):
    """A region's progress figures at a month-end (月末快照), taken on the last day of the month at
    00:00 Asia/Shanghai for every province, city and county (``portal.services.snapshots``).

    Exactly one per month and region (a unique index). Never changed: database triggers refuse
    UPDATE and DELETE. ``caught_up``: taken after its month had ended (a missed month-end, caught up
    with the counters of the time it was taken, ``taken_at``)."""

    __tablename__ = "month_end_snapshot"
    __table_args__ = (Index("ux_month_end_snapshot", "region_code", "month", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, index=True)  # 'YYYY-MM'
    region_code: str = Field(max_length=6)
    level: str = Field(max_length=16)  # province / city / county
    province_code: str = Field(max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    institutions: int = 0
    reported: int = 0
    reviewed: int = 0
    numbered: int = 0
    entered: int = 0
    baseline: int | None = None  # children in the education statistics of ``baseline_year``, if known
    baseline_year: int | None = None
    taken_at: datetime = Field(sa_column=_utc_column())
    caught_up: bool = False


class Bulletin(SQLModel, table=True):
    """A progress bulletin (通报) a bureau's leader issued for a date: the ranked table, its charts and
    a generated summary, archived as a workbook and a PDF and published to the levels below
    (``portal.services.bulletins``). ``table_json`` keeps the rows, so that the next bulletin can say
    who moved most since this one."""

    __tablename__ = "bulletin"

    id: int | None = Field(default=None, primary_key=True)
    region_code: str = Field(max_length=6, index=True)
    region_name: str = Field(max_length=64)
    level: str = Field(max_length=16)  # province / city / county
    province_code: str = Field(max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6)
    county_code: str | None = Field(default=None, max_length=6)
    as_of: date
    title: str = Field(max_length=200)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    table_json: str = Field(sa_column=Column(Text, nullable=False))
    xlsx: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_by_name: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


# --- projects (§15, §16) ----------------------------------------------------------------------


class CentralFund(SQLModel, table=True):
    """A province's central funds for preschool education in a year (中央财政奖补资金), recorded by
    the ministry (§15). One row per province and year."""

    __tablename__ = "central_fund"
    __table_args__ = (Index("ux_central_fund", "year", "province_code", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    province_code: str = Field(max_length=2)
    amount: Decimal = Field(sa_column=_money_column())
    note: str = Field(default="", max_length=500)
    recorded_by: int | None = Field(default=None, foreign_key="user_account.id")
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    version: int = 1


class Project(SQLModel, table=True):
    """A preschool project (学前教育项目) recorded by a bureau for its own region (§15): its fund
    source, year, purpose and the amount allocated. ``level`` is the recording bureau's level and
    ``region_code`` its region; the scope codes are the region's. Review: saved → submitted
    (``request_id``, reviewed by the level above through the review engine) → approved, or returned."""

    __tablename__ = "project"
    __table_args__ = (Index("ix_project_scope", "province_code", "city_code", "county_code"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    source: str = Field(max_length=16)  # central / provincial / city / county
    year: int = Field(index=True)
    level: str = Field(max_length=16)  # ministry / province / city / county
    region_code: str = Field(max_length=6, index=True)
    province_code: str | None = Field(default=None, max_length=2)
    city_code: str | None = Field(default=None, max_length=6)
    county_code: str | None = Field(default=None, max_length=6)
    purpose: str = Field(default="", max_length=2000)
    amount: Decimal = Field(sa_column=_money_column())
    state: str = Field(default="saved", max_length=16)  # saved / submitted / approved / returned / deleted
    return_reason: str = Field(default="", max_length=1000)
    request_id: int | None = Field(default=None, foreign_key="request.id")
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    version: int = 1


class ProjectInstitution(SQLModel, table=True):
    """An institution a project funds, with the amount meant for it (if the project says)."""

    __tablename__ = "project_institution"

    project_id: int = Field(foreign_key="project.id", primary_key=True)
    institution_id: int = Field(foreign_key="institution.id", primary_key=True, index=True)
    amount: Decimal | None = Field(default=None, sa_column=_money_column(nullable=True))


class ProjectProgress(SQLModel, table=True):
    """A project's monthly progress (§16): spent so far, progress %, notes and an evidence file,
    updated by the ``monthly_update_day`` (25th). One row per project and month; a later update in
    the same month replaces the figures (the audit log keeps the earlier ones)."""

    __tablename__ = "project_progress"
    __table_args__ = (Index("ux_project_progress", "project_id", "month", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id")
    month: str = Field(max_length=7, index=True)  # 'YYYY-MM'
    spent: Decimal = Field(sa_column=_money_column())  # spent so far (cumulative), yuan
    percent: Decimal = Field(sa_column=_money_column())
    notes: str = Field(default="", max_length=2000)
    evidence_name: str = Field(default="", max_length=200)  # the name the user gave
    evidence_stored: str | None = Field(default=None, max_length=64)  # the generated file name
    evidence_sha256: str | None = Field(default=None, max_length=64)
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class ProjectSnapshot(SQLModel, table=True):
    """A project's figures at a month-end (§16: project data saved on the last day of the month at
    00:00), taken with the month-end snapshot. Never changed: triggers refuse UPDATE and DELETE."""

    __tablename__ = "project_snapshot"
    __table_args__ = (Index("ux_project_snapshot", "project_id", "month", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, index=True)
    project_id: int = Field(foreign_key="project.id")
    name: str = Field(max_length=200)
    source: str = Field(max_length=16)
    year: int
    level: str = Field(max_length=16)
    region_code: str = Field(max_length=6)
    province_code: str | None = Field(default=None, max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6)
    county_code: str | None = Field(default=None, max_length=6)
    state: str = Field(max_length=16)
    amount: Decimal = Field(sa_column=_money_column())
    spent: Decimal = Field(sa_column=_money_column())
    percent: Decimal = Field(sa_column=_money_column())
    progress_month: str | None = Field(default=None, max_length=7)  # the month of the figures kept
    taken_at: datetime = Field(sa_column=_utc_column())


# --- funding computed from the records (R4.2) -------------------------------------------------


class FundingRun(SQLModel, table=True):
    """A frozen computation of per-child funding, poverty aid and inclusive-private subsidies for a
    region on a reference date: the rates and the transfer rule used are kept with it, so the
    figures never move once computed."""

    __tablename__ = "funding_run"

    id: int | None = Field(default=None, primary_key=True)
    year: int
    reference_date: date
    period_start: date
    region_code: str = Field(max_length=6, index=True)
    region_name: str = Field(default="", max_length=64)
    level: str = Field(max_length=16)
    province_code: str | None = Field(default=None, max_length=2)
    city_code: str | None = Field(default=None, max_length=6)
    county_code: str | None = Field(default=None, max_length=6)
    rates_json: str = Field(sa_column=Column(Text, nullable=False))
    transfer_rule: str = Field(max_length=32)
    children: int = 0
    total: Decimal = Field(sa_column=_money_column())
    note: str = Field(default="", max_length=500)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_by_name: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class FundingLine(SQLModel, table=True):
    """One institution's amount in one category of a run."""

    __tablename__ = "funding_line"
    __table_args__ = (Index("ix_funding_line_run", "run_id", "county_code"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="funding_run.id")
    institution_id: int = Field(foreign_key="institution.id")
    institution_name: str = Field(max_length=100)
    province_code: str = Field(max_length=2)
    city_code: str = Field(max_length=6)
    county_code: str = Field(max_length=6)
    category: str = Field(max_length=16)  # per_child / poverty / inclusive
    children: int = 0
    rate: Decimal = Field(sa_column=_money_column())
    amount: Decimal = Field(sa_column=_money_column())


class FundingChild(SQLModel, table=True):
    """A child counted in a run: where, in which categories, and why (the drill-down)."""

    __tablename__ = "funding_child"
    __table_args__ = (Index("ix_funding_child_run", "run_id", "institution_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="funding_run.id")
    child_id: int = Field(foreign_key="child.id")
    institution_id: int = Field(foreign_key="institution.id")
    categories: str = Field(max_length=64)  # comma-separated
    amount: Decimal = Field(sa_column=_money_column())
    reason: str = Field(default="", max_length=500)


# --- notices and support (R7) -----------------------------------------------------------------


class Notice(SQLModel, table=True):
    """A notice (通知公告) a bureau publishes to every level below it in its region."""

    __tablename__ = "notice"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    level: str = Field(max_length=16)  # the publishing bureau's level
    region_code: str = Field(max_length=6, index=True)
    region_name: str = Field(default="", max_length=64)
    province_code: str | None = Field(default=None, max_length=2, index=True)
    city_code: str | None = Field(default=None, max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    published_by: int | None = Field(default=None, foreign_key="user_account.id")
    published_by_name: str = Field(default="", max_length=64)
    published_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(index=True))
    withdrawn_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class NoticeAttachment(SQLModel, table=True):
    """A file attached to a notice, stored like evidence (outside any served folder)."""

    __tablename__ = "notice_attachment"

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    filename: str = Field(max_length=200)
    stored_name: str = Field(max_length=64, unique=True)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)


class NoticeRead(SQLModel, table=True):
    """A read receipt: this user opened this notice, first at ``read_at``."""

    __tablename__ = "notice_read"

    notice_id: int = Field(foreign_key="notice.id", primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, index=True)
    read_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class SupportContact(SQLModel, table=True):
    """A level's support contact (技术支持, §23), set by that level's system administrator: one per
    region (the ministry's region code is '00')."""

    __tablename__ = "support_contact"

    region_code: str = Field(max_length=6, primary_key=True)
    level: str = Field(max_length=16)
    region_name: str = Field(default="", max_length=64)
    unit: str = Field(default="", max_length=100)  # the unit that gives support, e.g. 省教育信息中心
    person: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=50)
    email: str = Field(default="", max_length=100)
    hours: str = Field(default="", max_length=100)
    channel: str = Field(default="", max_length=200)  # a support group, mail list or hotline hours
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


# --- the ministry exchange (R8.5) -------------------------------------------------------------


class ExchangeLog(SQLModel, table=True):
    """Every exchange file this deployment wrote or accepted (``portal.services.exchange``): a
    province's packages and the duplicates reports it imported; the ministry's imported packages
    and the reports it issued. ``direction``: export / import; ``kind``: package / duplicates.
    ``sequence`` grows per direction, kind and province, so that an older or replayed file is
    refused; ``package_id`` is unique per direction. ``content`` keeps an imported package's month-end snapshots
    and project figures (JSON); the progress rows and the hashed register have their own tables."""

    __tablename__ = "exchange_log"
    __table_args__ = (
        Index("ux_exchange_log_package", "direction", "package_id", unique=True),
        Index("ux_exchange_log_sequence", "direction", "kind", "province_code", "sequence", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    direction: str = Field(max_length=8)  # export / import
    kind: str = Field(max_length=16)  # package / duplicates
    province_code: str = Field(max_length=2, index=True)
    sequence: int
    package_id: str = Field(max_length=32)
    format_version: int = 1
    created_at: datetime = Field(sa_column=_utc_column())  # when the file was made
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    sha256: str = Field(max_length=64)
    children: int = 0  # register entries (package) or children listed (report)
    summary: str = Field(default="", max_length=500)
    content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_by: int | None = Field(default=None, foreign_key="user_account.id")


class ExchangeProgress(SQLModel, table=True):
    """One row of a province's progress table as an imported package carried it (the national
    deployment): the province's total, its cities and counties."""

    __tablename__ = "exchange_progress"
    __table_args__ = (Index("ix_exchange_progress_log", "log_id", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    log_id: int = Field(foreign_key="exchange_log.id")
    province_code: str = Field(max_length=2, index=True)
    level: str = Field(max_length=16)  # province / city / county
    region_code: str = Field(max_length=6)
    region_name: str = Field(default="", max_length=64)
    parent_code: str | None = Field(default=None, max_length=6)
    institutions: int = 0
    reported: int = 0
    reviewed: int = 0
    numbered: int = 0
    entered: int = 0
    baseline: int | None = None
    baseline_year: int | None = None


class ExchangeRegister(SQLModel, table=True):
    """A province's register for the national duplicate check (the national deployment): one row per
    numbered child, a keyed hash of the child's identity and the province's own reference (the
    child's id there), never the identity. A province's new package replaces its rows."""

    __tablename__ = "exchange_register"
    __table_args__ = (
        Index("ix_exchange_register_hash", "hashed_id"),
        Index("ix_exchange_register_province", "province_code", "child_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    province_code: str = Field(max_length=2)
    hashed_id: str = Field(max_length=64)
    basis: str = Field(max_length=8)  # document / person (name, gender and birth date)
    child_ref: int
    log_id: int = Field(foreign_key="exchange_log.id", index=True)


class CacheVersion(SQLModel, table=True):
    """A version counter per cached query (portal/data/query_cache.py): a process serves its cached
    result only while the counter is unchanged; a rare write that changes the result bumps it."""

    __tablename__ = "cache_version"

    name: str = Field(primary_key=True, max_length=64)
    version: int = 0
