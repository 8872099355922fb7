"""The actor: who is acting, built once at login and passed to every service call."""

from __future__ import annotations

from dataclasses import dataclass

from portal.auth.roles import Duty, Level, role_label


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    username: str
    real_name: str
    level: Level
    duty: Duty
    region_code: str | None = None  # the region the user works for (province, city, county)
    region_name: str = ""
    institution_id: int | None = None
    institution_name: str = ""
    province_code: str | None = None
    city_code: str | None = None
    county_code: str | None = None
    township_code: str | None = None
    session_version: int = 1
    is_demo: bool = False
    is_system: bool = False  # the operator at the command line, not a person logged in
    session_id: str = ""  # the login session, written on every audit row of the session
    loan_id: int | None = None  # the password loan in force when the session began (§18.3)

    @property
    def role(self) -> str:
        return role_label(self.level, self.duty)

    @property
    def scope_label(self) -> str:
        """The scope in words: 河南省郑州市中牟县, a township, or the institution's name."""
        if self.level is Level.INSTITUTION:
            return self.institution_name or self.region_name
        if self.level is Level.TOWNSHIP:
            return self.region_name or self.institution_name  # the township it guides
        if self.level is Level.MINISTRY:
            return "全国"
        return self.region_name


SYSTEM_ACTOR = Actor(
    user_id=0,
    username="system",
    real_name="系统",
    level=Level.MINISTRY,
    duty=Duty.SYSADMIN,
    is_system=True,
)
"""The operator at the command line (migrations, imports, demo data): acts everywhere, audited."""
