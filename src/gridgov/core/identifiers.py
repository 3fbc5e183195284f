"""Chinese identifiers: validate, normalise and mask resident IDs, credit codes and phone numbers.

* **Resident ID (GB 11643-1999)**: 6-digit area code + birth date ``YYYYMMDD`` + 3-digit sequence
  (odd = male) + check character. The check is ISO 7064 MOD 11-2: weights ``2^(17-i) mod 11`` over
  the first 17 digits, and the character that makes the total ≡ 1 (mod 11), ``X`` standing for 10.
  The area code is checked to its province (first two digits, GB/T 2260); the full county list
  changes every year and is not shipped. Area codes 81/82/83 are Hong Kong / Macao / Taiwan, used
  by the residence permits (港澳台居民居住证) issued since 2018 in the same format.
* **Organisation code (GB 11714-1997)**: 8 body characters (digits, letters valued A=10 … Z=35) and a
  check: weights 3,7,9,10,5,8,4,2; ``11 - Σ mod 11`` where 10 → ``X`` and 11 → ``0``.
* **Unified social credit code (GB 32100-2015)**: registration authority (1) + organisation category
  (1) + registering authority's area code (6) + organisation code (9, with its own GB 11714 check)
  + check character (1), over 31 characters (no I, O, S, V, Z). Check = ``31 - Σ(value × 3^i mod 31)
  mod 31``, 31 → ``0``. Authorities and categories follow the standard's table with its amendment
  (A = CMC staffing office, N = agriculture).
* **Phones**: mainland mobiles are 11 digits ``1[3-9]…``; landlines are a trunk area code (``010``,
  ``02x`` or ``0xxx``) and a 7–8 digit subscriber number, normalised to ``0755-26123456``.

Error messages say what is wrong and never repeat the input: the input is personal data, and
messages end up in logs and API responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from gridgov.core import clock
from gridgov.core.errors import InvalidInput

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "CREDIT_CODE_CATEGORIES",
    "CREDIT_CODE_WEIGHTS",
    "ORG_CODE_WEIGHTS",
    "PROVINCE_CODES",
    "RESIDENT_ID_CHECK_CHARS",
    "RESIDENT_ID_WEIGHTS",
    "SHENZHEN_AREA_CODE",
    "CreditCode",
    "ResidentId",
    "credit_code_check_char",
    "is_valid_credit_code",
    "is_valid_org_code",
    "is_valid_resident_id",
    "mask_credit_code",
    "mask_name",
    "mask_phone",
    "mask_resident_id",
    "normalise_contact_number",
    "normalise_landline",
    "normalise_phone",
    "org_code_check_char",
    "parse_credit_code",
    "parse_resident_id",
    "resident_id_check_char",
]

# GB/T 2260 province-level codes; 83 (Taiwan) appears on residence permits for Taiwan residents, while
# 71 is the code GB/T 2260 itself lists for Taiwan.
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Indexed by (weighted sum mod 11): the character that makes the MOD 11-2 total ≡ 1.
RESIDENT_ID_CHECK_CHARS = "10X98765432"

ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}

# GB 32100 table 1 (and amendment No. 1): registration authority → (name, {category: name}).
CREDIT_CODE_CATEGORIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"},
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": ("农业", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": ("其他", {"1": "其他"}),
}

SHENZHEN_AREA_CODE = "0755"

Sex = Literal["male", "female"]

# Full-width ASCII (U+FF01–U+FF5E) and the ideographic space, as Chinese input methods type them.
_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}
# Separators people put inside phone numbers: whitespace, hyphens and dashes, dots, brackets.
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.()\[\]]")


def _half_width(text: str) -> str:
    return text.translate(_HALF_WIDTH)


def _today() -> date:
    return clock.now().date()


# ---------------------------------------------------------------- resident ID (GB 11643)


@dataclass(frozen=True, repr=False)
class ResidentId:
    """A valid resident ID, split into its fields. ``repr`` shows only the masked number."""

    number: str
    area_code: str
    birth_date: date
    sex: Sex

    def __repr__(self) -> str:
        return f"ResidentId({mask_resident_id(self.number)!r})"

    @property
    def masked(self) -> str:
        return mask_resident_id(self.number)


def resident_id_check_char(first17: str) -> str:
    """The 18th character for a 17-digit body (no other validation of the body)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidInput("resident ID body must be 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def _normalise_resident_id(text: str) -> str:
    return _half_width(text).strip().replace("x", "X")


def parse_resident_id(text: str, *, today: date | None = None) -> ResidentId:
    """Validate and split a resident ID; ``today`` bounds the birth date (default: the clock's date).

    Accepts surrounding whitespace, full-width digits and a lowercase ``x``. Raises ``InvalidInput``
    with a reason that never contains the number.
    """
    number = _normalise_resident_id(text)
    if len(number) != 18:
        raise InvalidInput("resident ID must be 18 characters")
    body, check = number[:17], number[17]
    if not body.isascii() or not body.isdigit() or check not in "0123456789X":
        raise InvalidInput("resident ID must be 17 digits followed by a digit or X")
    if int(body[:2]) not in PROVINCE_CODES:
        raise InvalidInput("resident ID area code is not a known province")
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise InvalidInput("resident ID birth date is not a real date") from None
    if born < date(1900, 1, 1):
        raise InvalidInput("resident ID birth date is before 1900")
    if born > (today or _today()):
        raise InvalidInput("resident ID birth date is in the future")
    if resident_id_check_char(body) != check:
        raise InvalidInput("resident ID check digit does not match")
    sex: Sex = "male" if int(body[16]) % 2 == 1 else "female"
    return ResidentId(number=number, area_code=body[:6], birth_date=born, sex=sex)


def is_valid_resident_id(text: str, *, today: date | None = None) -> bool:
    try:
        parse_resident_id(text, today=today)
    except InvalidInput:
        return False
    return True


# ---------------------------------------------------------------- organisation code (GB 11714)


def _org_value(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    if "A" <= c <= "Z":
        return ord(c) - 55  # A=10 … Z=35
    raise InvalidInput("organisation code characters are 0-9 and A-Z")


def org_code_check_char(body8: str) -> str:
    """The 9th character of an organisation code for an 8-character body."""
    if len(body8) != 8:
        raise InvalidInput("organisation code body must be 8 characters")
    total = sum(_org_value(c) * w for c, w in zip(body8, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def is_valid_org_code(text: str) -> bool:
    """A 9-character organisation code (no hyphen) with a matching check character."""
    if len(text) != 9:
        return False
    try:
        return org_code_check_char(text[:8]) == text[8]
    except InvalidInput:
        return False


# ---------------------------------------------------------------- unified social credit code (GB 32100)


@dataclass(frozen=True)
class CreditCode:
    """A valid credit code, split into its fields (the code of an organisation: public, not personal)."""

    code: str
    registration_authority: str
    category: str
    area_code: str
    org_code: str

    @property
    def authority_name(self) -> str:
        return CREDIT_CODE_CATEGORIES[self.registration_authority][0]

    @property
    def category_name(self) -> str:
        return CREDIT_CODE_CATEGORIES[self.registration_authority][1][self.category]


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a credit code for a 17-character body over the 31-character alphabet."""
    if len(first17) != 17:
        raise InvalidInput("credit code body must be 17 characters")
    try:
        total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    except KeyError:
        raise InvalidInput("credit code contains a character outside its alphabet") from None
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def parse_credit_code(text: str) -> CreditCode:
    """Validate and split a credit code; accepts surrounding whitespace, full width and lower case.

    Checks, in order: length, alphabet, the GB 32100 check character, registration authority and
    category against the standard's table, the area code's province, the embedded GB 11714 check.
    """
    code = _half_width(text).strip().upper()
    if len(code) != 18:
        raise InvalidInput("credit code must be 18 characters")
    if any(c not in _CREDIT_VALUE for c in code):
        raise InvalidInput("credit code contains a character outside its alphabet (no I, O, S, V, Z)")
    if credit_code_check_char(code[:17]) != code[17]:
        raise InvalidInput("credit code check character does not match")
    authority, category, area, org = code[0], code[1], code[2:8], code[8:17]
    if authority not in CREDIT_CODE_CATEGORIES:
        raise InvalidInput("credit code registration authority is not one the standard defines")
    if category not in CREDIT_CODE_CATEGORIES[authority][1]:
        raise InvalidInput("credit code organisation category does not exist for its registration authority")
    # 100000 is the national level (organisations registered by a ministry).
    if not area.isdigit() or (int(area[:2]) not in PROVINCE_CODES and area != "100000"):
        raise InvalidInput("credit code area code is not a known administrative division")
    if not is_valid_org_code(org):
        raise InvalidInput("credit code organisation code check character does not match")
    return CreditCode(
        code=code, registration_authority=authority, category=category, area_code=area, org_code=org
    )


def is_valid_credit_code(text: str) -> bool:
    try:
        parse_credit_code(text)
    except InvalidInput:
        return False
    return True


# ---------------------------------------------------------------- phone numbers


def _phone_digits(text: str) -> tuple[str, bool]:
    """Digits without separators and country code; the flag says a country code was present."""
    s = _PHONE_SEPARATORS.sub("", _half_width(text))
    if s.startswith("+86"):
        return s[3:], True
    if s.startswith("0086"):
        return s[4:], True
    return s, False


def normalise_phone(text: str) -> str:
    """A mainland mobile number as 11 digits.

    Accepts spaces, hyphens, dots and brackets, full-width digits, and a ``+86`` / ``0086`` prefix,
    or a bare ``86`` before 11 digits (13 digits starting ``861[3-9]`` cannot be anything else).
    """
    digits, _ = _phone_digits(text)
    if len(digits) == 13 and digits.startswith("86") and digits[2] == "1":
        digits = digits[2:]
    if not digits:
        raise InvalidInput("mobile number is empty")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInput("mobile number may contain only digits, separators and a +86 prefix")
    if len(digits) != 11:
        raise InvalidInput("mobile number must be 11 digits")
    if digits[0] != "1" or digits[1] not in "3456789":
        raise InvalidInput("mobile number must start with 13 to 19")
    return digits


_AREA_CODE = re.compile(r"010|02\d|0[3-9]\d\d")


def _split_area_code(digits: str) -> tuple[str, str] | None:
    """``0…`` digits → (area code, subscriber): 010 and 02x are three digits, 03xx–09xx four."""
    for size in (3, 4):
        if _AREA_CODE.fullmatch(digits[:size]):
            return digits[:size], digits[size:]
    return None


def normalise_landline(text: str, *, default_area_code: str | None = None) -> str:
    """A mainland landline as ``<area code>-<subscriber>``, e.g. ``0755-26123456``.

    Accepts separators, brackets around the area code, and ``+86`` without the trunk ``0``. A number
    without an area code takes ``default_area_code`` (e.g. ``SHENZHEN_AREA_CODE``) or is refused.
    Extensions (分机) and 400/800 service numbers are not landlines here and are refused.
    """
    digits, international = _phone_digits(text)
    if not digits:
        raise InvalidInput("landline number is empty")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInput("landline number may contain only digits, separators and a +86 prefix")
    if international:
        digits = "0" + digits
    if digits.startswith("0"):
        parts = _split_area_code(digits)
        if parts is None:
            raise InvalidInput("landline area code is not a mainland area code")
        area, subscriber = parts
    elif default_area_code is not None:
        if not _AREA_CODE.fullmatch(default_area_code):
            raise InvalidInput("default area code is not a mainland area code")
        area, subscriber = default_area_code, digits
    else:
        raise InvalidInput("landline number needs an area code")
    if len(subscriber) not in (7, 8) or subscriber[0] in "01":
        raise InvalidInput("landline subscriber number must be 7 or 8 digits, not starting with 0 or 1")
    return f"{area}-{subscriber}"


def normalise_contact_number(text: str, *, default_area_code: str | None = None) -> str:
    """A mobile (11 digits) or a landline (``0755-26123456``): the hyphen tells them apart.

    A number that reads as a mobile (11 digits starting with 1, after any country code) is judged
    as one; anything else as a landline.
    """
    digits, _ = _phone_digits(text)
    if len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return normalise_phone(text)
    try:
        return normalise_landline(text, default_area_code=default_area_code)
    except InvalidInput as exc:
        raise InvalidInput(f"not a mobile or landline number: {exc.message}") from None


# ---------------------------------------------------------------- masking (never raises)


def _stars(text: object) -> str:
    return "*" * len(text) if isinstance(text, str) else ""


def mask_resident_id(text: str) -> str:
    """``440305199001011234`` → ``4403**********1234``; anything not 18 characters is fully starred."""
    if not isinstance(text, str) or len(text) != 18:
        return _stars(text)
    return text[:4] + "*" * 10 + text[-4:]


def mask_phone(text: str) -> str:
    """``13812345678`` → ``138****5678``; other lengths keep only the last 4 (7+ chars) or nothing."""
    if not isinstance(text, str):
        return ""
    if len(text) == 11:
        return text[:3] + "****" + text[-4:]
    if len(text) >= 7:
        return "*" * (len(text) - 4) + text[-4:]
    return _stars(text)


def mask_credit_code(text: str) -> str:
    """``91440300MA5XXXXXXX`` → first 6, eight ``*``, last 4; anything not 18 characters fully starred."""
    if not isinstance(text, str) or len(text) != 18:
        return _stars(text)
    return text[:6] + "*" * 8 + text[-4:]


def mask_name(text: str) -> str:
    """``张三丰`` → ``张**``: the first character stays (a one-character name is fully starred)."""
    if not isinstance(text, str) or len(text) < 2:
        return _stars(text)
    return text[0] + "*" * (len(text) - 1)
