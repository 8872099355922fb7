"""Identity documents and student numbers (DOMAIN.md; GB 11643-1999; §26.2, §28).

``check_document`` validates a child's document number and says, in Chinese, which part is wrong
(length, characters, birth date, check digit) and whether gender and birth date agree with the
form. An address code missing from today's division list is a warning, not an error: old numbers
keep old codes. Student numbers: ``G`` + the resident ID number; ``J`` + region + birth date +
sequence + check character for a child without a usable ID number; ``L`` + region + birth date +
4 digits for a temporary number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from operator import mul

from portal.data.choices import DocumentType

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ZERO_WEIGHTED = ord("0") * sum(WEIGHTS)
CHECK_CHARACTERS = "10X98765432"  # Y = S mod 11 -> character
HMT_ADDRESS_CODES = {"810000": "香港", "820000": "澳门", "830000": "台湾"}


@dataclass
class DocumentCheck:
    number: str  # normalised: full-width forms folded, stripped, upper case, no spaces
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    birth_date: date | None = None  # as encoded in the number, when it encodes one
    gender: str | None = None  # 男 / 女, as encoded in the number

    @property
    def ok(self) -> bool:
        return not self.errors


def fold_width(text: str) -> str:
    """Full-width digits and letters (typed with a Chinese input method, １２Ｘ) as ASCII (12X).
    Other scripts' digits (٤١٠) stay as they are, and the checks below refuse them."""
    return unicodedata.normalize("NFKC", text or "")


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() would also take ٤, ４ and ²."""
    return text.isascii() and text.isdigit()


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits."""
    if len(first17) != 17 or not _digits(first17):
        raise ValueError("17 digits expected")
    # The digits' ASCII codes weighted, less the weighted code of "0": no int() per digit.
    return CHECK_CHARACTERS[(sum(map(mul, first17.encode("ascii"), WEIGHTS)) - _ZERO_WEIGHTED) % 11]


def _parse_birth(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _check_gb11643(
    result: DocumentCheck,
    label: str,
    today: date,
    known_region: Callable[[str], bool] | None,
    hmt: bool,
) -> None:
    number = result.number
    if len(number) != 18:
        result.errors.append(f"{label}应为 18 位，当前为 {len(number)} 位。")
        return
    if not _digits(number[:17]) or not (_digits(number[17]) or number[17] == "X"):
        result.errors.append(f"{label}只能由数字组成，最后一位可以是 X。")
        return
    address = number[:6]
    if hmt and address not in HMT_ADDRESS_CODES:
        result.errors.append(f"{label}的前 6 位应为 810000（香港）、820000（澳门）或 830000（台湾）。")
        return
    birth = _parse_birth(number[6:14])
    if birth is None or birth.year < 1900 or birth > today:
        result.errors.append(f"{label}第 7–14 位的出生日期“{number[6:14]}”不是有效日期。")
        return
    expected = check_character(number[:17])
    if number[17] != expected:
        result.errors.append(f"{label}的校验位（第 18 位）不正确：请核对号码是否抄错。")
        return
    result.birth_date = birth
    result.gender = "男" if int(number[16]) % 2 == 1 else "女"
    if not hmt and known_region is not None and not known_region(address):
        result.warnings.append(f"地址码 {address} 不在现行行政区划中（早年办理的号码可能使用旧地址码），请核对。")


PATTERNS: dict[DocumentType, tuple[re.Pattern[str], str]] = {
    DocumentType.HK_MACAO_PERMIT: (
        re.compile(r"[HM]\d{8}(\d{2})?", re.ASCII),
        "应为 H 或 M 开头加 8 位（或 10 位）数字",
    ),
    DocumentType.TAIWAN_PERMIT: (re.compile(r"\d{8}|\d{10}", re.ASCII), "应为 8 位（或旧版 10 位）数字"),
    DocumentType.PASSPORT: (re.compile(r"[A-Z0-9]{5,20}"), "应为 5–20 位字母或数字"),
}


def check_document(
    document_type: DocumentType,
    number: str,
    *,
    birth_date: date | None = None,
    gender: str | None = None,
    today: date | None = None,
    known_region: Callable[[str], bool] | None = None,
) -> DocumentCheck:
    """Validate a document number and its agreement with the form's birth date and gender."""
    today = today or date.today()
    result = DocumentCheck(number=fold_width(number).strip().upper().replace(" ", ""))
    label = f"{document_type.value}号码"
    if document_type is DocumentType.NONE:
        if result.number:
            result.errors.append("证件类型为“无证件”时不应填写证件号码。")
        return result
    if not result.number:
        result.errors.append(f"请填写{label}。")
        return result
    if document_type is DocumentType.RESIDENT_ID:
        if result.number[:6] in HMT_ADDRESS_CODES:
            result.errors.append("以 810000、820000、830000 开头的号码是港澳台居民居住证，请选择对应的证件类型。")
            return result
        _check_gb11643(result, label, today, known_region, hmt=False)
    elif document_type is DocumentType.HMT_RESIDENCE:
        _check_gb11643(result, label, today, known_region, hmt=True)
    elif document_type is DocumentType.FOREIGN_PERMANENT:
        if re.fullmatch(r"[A-Z]{3}\d{12}", result.number, re.ASCII):
            pass  # the 2004 format: nationality letters and 12 digits
        elif result.number.startswith("9"):
            _check_gb11643(result, label, today, None, hmt=False)  # the 2023 format, 18 digits
        else:
            result.errors.append(f"{label}应为 3 位字母加 12 位数字（旧版），或以 9 开头的 18 位号码（2023 版）。")
    else:
        pattern, rule = PATTERNS[document_type]
        if not pattern.fullmatch(result.number):
            result.errors.append(f"{label}{rule}。")
    if result.ok and result.birth_date is not None:
        if birth_date is not None and birth_date != result.birth_date:
            result.errors.append(f"出生日期与证件号码不符：证件号码显示为 {result.birth_date.isoformat()}。")
        if gender is not None and gender != result.gender:
            result.errors.append(f"性别与证件号码不符：证件号码显示为{result.gender}。")
    return result


def student_number_g(resident_id: str) -> str:
    """G + the 18-character resident ID number: the formal number for a child with a resident ID."""
    return "G" + resident_id.strip().upper()


def student_number_j(region_code: str, birth: date, sequence: int) -> str:
    """J + 6-digit region + birth date + 3-digit sequence + check character (as for an ID number)."""
    if not (len(region_code) == 6 and _digits(region_code)) or not 0 < sequence < 1000:
        raise ValueError("region code of 6 digits and a sequence 1..999 expected")
    body = f"{region_code}{birth:%Y%m%d}{sequence:03d}"
    return "J" + body + check_character(body)


def student_number_l(region_code: str, birth: date, sequence: int) -> str:
    """L + 6-digit region + birth date + 4 digits: a temporary number before identity is verified."""
    if not (len(region_code) == 6 and _digits(region_code)) or not 0 < sequence < 10000:
        raise ValueError("region code of 6 digits and a sequence 1..9999 expected")
    return f"L{region_code}{birth:%Y%m%d}{sequence:04d}"


def is_student_number(value: str) -> bool:
    """Is this the shape of a student number (one letter and 18 characters, valid check)?"""
    value = fold_width(value).strip().upper()
    if len(value) != 19 or value[0] not in "GJL":
        return False
    body = value[1:]
    if value[0] == "L":
        return _digits(body)
    return _digits(body[:17]) and check_character(body[:17]) == body[17]
