"""Every setting of the portal in one place.

Values come from environment variables first, then from `.streamlit/secrets.toml` (the file
`make run` writes with local random secrets on first run), then from the defaults below.
Secrets never have a default: the portal refuses to start without them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"
DEFAULT_SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """A setting is missing or has a value the portal cannot run with."""


def _default_database_url() -> str:
    return f"sqlite:///{VAR_DIR / 'portal.db'}"


@dataclass(frozen=True)
class Settings:
    # --- deployment -------------------------------------------------------------------------
    database_url: str = field(default_factory=_default_database_url)
    province_code: str = "41"  # the deployment's province (GB/T 2260, two digits); 41 = Henan
    deployment: str = "province"  # "province" or "national" (the ministry's deployment)
    db_pool_size: int = 5  # PostgreSQL connections kept per portal process
    db_max_overflow: int = 10
    sqlite_busy_timeout_ms: int = 5000
    # Query results cached per process (the progress table) are at most this many seconds old; a
    # rare change (a baseline import, a rebuild) reaches every process within a second.
    cache_seconds: int = 30
    # The ministry exchange (R8.5): this province's signing key (shared with the ministry only), the
    # national deployment's keys of every province as JSON {"41": "..."}, and the key every deployment
    # shares for the hashed identifiers of the national duplicate check (never the encryption key).
    exchange_key: str = ""
    exchange_keys: str = "{}"
    exchange_id_key: str = ""
    # --- secrets (no defaults) ----------------------------------------------------------------
    cookie_key: str = ""
    encryption_key: str = ""
    # --- login and sessions -------------------------------------------------------------------
    cookie_relogin: bool = False  # re-login by cookie; off by default
    cookie_expiry_hours: float = 8.0  # used only when cookie_relogin is on
    login_max_failures: int = 5
    login_failure_window_minutes: int = 15
    lockout_minutes: int = 30
    session_idle_minutes: int = 30
    bcrypt_rounds: int = 12
    # --- passwords, second factor and accounts (R6.2, GB/T 22239-2019 level 3) ------------------
    password_min_length: int = 10
    password_max_length: int = 128  # at least 64 must be allowed
    password_min_classes: int = 3  # of lower case, upper case, digits, symbols
    password_max_age_days: int = 90  # then a change is forced at the next login (0: never)
    password_history: int = 5  # none of the last this many passwords may be used again
    temp_password_hours: int = 24  # an administrator's reset password: valid this long, single use
    account_idle_days: int = 90  # accounts not used this long are disabled by the daily job (0: never)
    totp_required_for_all: bool = False  # on: data-entry staff need the second factor too
    totp_issuer: str = "学前教育管理信息系统"
    password_loan_max_days: int = 30  # the longest a password may be lent (§18.3)
    # --- audit and backups (R6.5, R6.6) ----------------------------------------------------------
    audit_retention_days: int = 365  # the purge keeps at least this much (never less than 183 days)
    backup_dir: str = ""  # default var/backups
    backup_keep: int = 14  # the backup command keeps this many most recent backups
    # --- reviews -------------------------------------------------------------------------------
    rural_classes: str = "村庄,乡中心区"  # urban-rural classes whose information the township checks first
    township_check_days: int = 5
    county_review_days: int = 10  # "counties review within two weeks" (Notice 三.2)
    change_review_days: int = 5  # change declarations: 5 working days (§14)
    change_ack_fields: str = "phone,postcode,principal,books"  # changes of only these are acknowledged
    evidence_max_mb: int = 10
    evidence_dir: str = ""  # where evidence files are kept; default var/evidence (never a served folder)
    # --- children -----------------------------------------------------------------------------
    child_record_months: int = 1  # a record is built within one month of enrolment (§26.1; 2025 rules: 2)
    child_review_days: int = 10  # the county reviews a submitted child within this many working days
    temporary_number_documents: str = ""  # document types that get an L (temporary) number, comma-separated
    import_max_mb: int = 10  # the largest workbook or CSV accepted for import
    import_max_rows: int = 20000
    key_change_review_days: int = 5  # the institution reviewer decides a key-information change (§27.2)
    key_change_county_review: bool = False  # on: the county reviews key changes too (otherwise it may look)
    graduation_age: int = 6  # 大班 children this old by the cut-off day leave for primary school
    graduation_cutoff: str = "08-31"  # month-day of the cut-off, in the school year's second calendar year
    accident_entry_days: int = 30  # an accidental leaving is entered within this many working days (§27.4)
    transfer_days: int = 30  # a transfer finishes within this many working days (§27.3)
    transfer_step_days: int = 5  # each party's deadline on a transfer, in working days
    transfer_county_review: bool = False  # on: the county reviews transfers within one county too
    # --- progress (Notice 二: records entered by 31 May, every child numbered by 30 June) -------
    entry_deadline: str = "05-31"  # month-day
    numbering_deadline: str = "06-30"  # month-day
    progress_target: float = 100.0  # the target line of the dashboard's rate charts, in %
    pdf_font: str = ""  # a CJK font file (.otf/.ttf/.ttc) for PDF bulletins; default: the system's Noto Sans CJK
    monthly_update_day: int = 25  # changes of the month are entered by this day (Notice 三.2)
    monthly_reminder_day: int = 20  # from this day, institutions whose monthly update is not done are reminded
    # --- projects and funding (R4, §15, §16) ----------------------------------------------------
    project_review_days: int = 10  # the level above reviews a submitted project within this many working days
    # Funding rates in yuan per child and year, as JSON: {year or "*": {region code or "*": {category:
    # amount}}}; the most specific year and region win (a county's code over its city's, its city's over
    # its province's, "*" last). Categories: per_child 生均财政拨款 (approved, numbered children of public
    # and inclusive kindergartens), poverty 建档立卡家庭幼儿资助, inclusive 普惠性民办园补助 (per child of
    # an inclusive private kindergarten). The defaults are examples: each province sets its own.
    funding_rates: str = '{"*": {"*": {"per_child": "600.00", "poverty": "1000.00", "inclusive": "400.00"}}}'
    # A child transferred during the period counts once: at the institution it belonged to on the
    # reference date ("reference_date") or at the start of the period ("period_start").
    funding_transfer_rule: str = "reference_date"
    notice_attachment_max_mb: int = 10
    # --- lists ---------------------------------------------------------------------------------
    page_size: int = 50

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def require_secrets(self) -> None:
        """Raise SettingsError unless every secret is present and long enough."""
        missing = [name for name in ("cookie_key", "encryption_key") if len(getattr(self, name)) < MIN_SECRET_LENGTH]
        if missing:
            names = ", ".join(f"PORTAL_{n.upper()}" for n in missing)
            raise SettingsError(
                f"missing or too short (< {MIN_SECRET_LENGTH} characters): {names}. "
                "Set them in the environment or in .streamlit/secrets.toml "
                "(`python -m portal secrets init` writes local random ones)."
            )


def _coerce(raw: object, kind: type) -> object:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        return int(raw)  # type: ignore[arg-type]
    if kind is float:
        return float(raw)  # type: ignore[arg-type]
    return str(raw)


def secrets_file() -> Path:
    return Path(os.environ.get("PORTAL_SECRETS_FILE", DEFAULT_SECRETS_FILE))


def _read_secrets_file() -> dict[str, object]:
    path = secrets_file()
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    portal = data.get("portal", {})
    return {str(k).lower(): v for k, v in portal.items()} if isinstance(portal, dict) else {}


def load_settings() -> Settings:
    """Build the settings from the environment and the secrets file (no caching)."""
    from_file = _read_secrets_file()
    values: dict[str, object] = {}
    types = {"bool": bool, "int": int, "float": float, "str": str}
    for f in fields(Settings):
        env_name = "DATABASE_URL" if f.name == "database_url" else f"PORTAL_{f.name.upper()}"
        raw = os.environ.get(env_name)
        if raw is None:
            raw = from_file.get(f.name)
        if raw is None:
            continue
        kind = types.get(str(f.type), str)
        try:
            values[f.name] = _coerce(raw, kind)
        except ValueError as exc:
            raise SettingsError(f"{env_name}: not a valid {kind.__name__}: {raw!r}") from exc
    settings = Settings(**values)  # type: ignore[arg-type]
    if len(settings.province_code) != 2 or not settings.province_code.isdigit():
        raise SettingsError("PORTAL_PROVINCE_CODE must be two digits, e.g. 41")
    if settings.deployment not in {"province", "national"}:
        raise SettingsError("PORTAL_DEPLOYMENT must be 'province' or 'national'")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
