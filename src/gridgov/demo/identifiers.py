"""Chinese identifiers: resident ID (GB 11643), organisation code (GB 11714), credit code (GB 32100).

Scalar validators for tests and callers, and vectorised numpy builders for the generator, which makes
millions of them. The validators will move to ``gridgov.core`` with the accounts work; they are
kept free of any other gridgov import so the move is a copy.

* **GB 11643-1999 citizen ID**: 6-digit area code + 8-digit birth date (YYYYMMDD) + 3-digit
  sequence (odd = male, even = female) + check character. The check is ISO 7064 MOD 11-2:
  weights ``2^(17-i) mod 11`` over the first 17 digits; ``(12 - sum mod 11) mod 11`` → ``0-9`` or ``X``.
* **GB 11714-1997 organisation code**: 8 body characters (digits, or letters valued A=10 … Z=35) +
  check: weights 3,7,9,10,5,8,4,2; ``11 - sum mod 11``, where 10 → ``X`` and 11 → ``0``.
* **GB 32100-2015 unified social credit code**: registration authority (1) + type (1) + admin area
  code (6) + organisation code (9, including its own GB 11714 check) + check (1). Characters come
  from a 31-character alphabet without I, O, S, V, Z; check = ``(31 - sum(value × weight) mod 31)
  mod 31`` with weights ``3^i mod 31``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ID_CHECK_CHARS",
    "ID_WEIGHTS",
    "ORG_WEIGHTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "is_valid_org_code",
    "is_valid_resident_id",
    "is_valid_uscc",
    "org_check_values",
    "org_code_check_char",
    "resident_id_check_char",
    "resident_id_check_indices",
    "uscc_check_char",
    "uscc_check_indices",
]

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Indexed by (weighted sum mod 11): the character that makes the ISO 7064 MOD 11-2 total ≡ 1.
ID_CHECK_CHARS = "10X98765432"

ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}


# ---------------------------------------------------------------- resident ID (GB 11643)


def resident_id_check_char(body17: str) -> str:
    """The 18th character for a 17-digit body."""
    if len(body17) != 17 or not body17.isascii() or not body17.isdigit():
        raise ValueError(f"A resident ID body is 17 ASCII digits, got {body17!r}.")
    total = sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _valid_birth_date(text: str) -> bool:
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    # Nobody alive was born before 1900; a birth date is never in the far future.
    return date(1900, 1, 1) <= born <= date(2100, 12, 31)


def is_valid_resident_id(value: str) -> bool:
    """Format, area-code shape, a real birth date and the MOD 11-2 check character.

    The area code is checked only for shape (first digit 1–8, as province codes are 11–82): the
    full list of historical county codes is not shipped here.
    """
    if not isinstance(value, str) or len(value) != 18 or not value.isascii():
        return False
    body, check = value[:17], value[17].upper()
    if not body.isdigit() or body[0] in "09":
        return False
    if not _valid_birth_date(body[6:14]):
        return False
    return resident_id_check_char(body) == check


def resident_id_check_indices(digits: NDArray[np.integer]) -> NDArray[np.intp]:
    """Vectorised check: ``digits`` is an (n, 17) integer array; returns indices into ID_CHECK_CHARS."""
    total = digits.astype(np.int64) @ np.array(ID_WEIGHTS, dtype=np.int64)
    return np.asarray(total % 11, dtype=np.intp)


# ---------------------------------------------------------------- organisation code (GB 11714)


def _org_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if "A" <= c <= "Z":
        return ord(c) - 55  # A=10 … Z=35
    raise ValueError(f"Organisation code characters are 0-9 and A-Z, got {c!r}.")


def org_code_check_char(body8: str) -> str:
    """The 9th character of an organisation code for an 8-character body."""
    if len(body8) != 8:
        raise ValueError(f"An organisation code body has 8 characters, got {body8!r}.")
    total = sum(_org_value(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def is_valid_org_code(value: str) -> bool:
    if not isinstance(value, str) or len(value) != 9 or not value.isascii():
        return False
    body = value[:8]
    if not all(c.isdigit() or "A" <= c <= "Z" for c in body):
        return False
    return org_code_check_char(body) == value[8]


# ---------------------------------------------------------------- unified social credit code (GB 32100)


def uscc_check_char(body17: str) -> str:
    """The 18th character of a credit code for a 17-character body over the 31-character alphabet."""
    if len(body17) != 17:
        raise ValueError(f"A credit code body has 17 characters, got {body17!r}.")
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"Character {exc.args[0]!r} is not in the credit-code alphabet.") from exc
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(value: str, *, check_org_code: bool = True) -> bool:
    """Length, alphabet, the GB 32100 check character and (by default) the embedded GB 11714 check."""
    if not isinstance(value, str) or len(value) != 18:
        return False
    if any(c not in _USCC_VALUE for c in value):
        return False
    if uscc_check_char(value[:17]) != value[17]:
        return False
    # Positions 3–8 are an administrative area code: six digits.
    if not value[2:8].isdigit():
        return False
    return not check_org_code or is_valid_org_code(value[8:17])


# ---------------------------------------------------------------- vectorised helpers for the generator


def uscc_check_indices(values: NDArray[np.integer]) -> NDArray[np.intp]:
    """(n, 17) alphabet indices → index of the check character in USCC_ALPHABET."""
    total = values.astype(np.int64) @ np.array(USCC_WEIGHTS, dtype=np.int64)
    return np.asarray((31 - total % 31) % 31, dtype=np.intp)


def org_check_values(values: NDArray[np.integer]) -> NDArray[np.int64]:
    """(n, 8) GB 11714 character values → check value 0–10 (10 is written ``X``)."""
    total = values.astype(np.int64) @ np.array(ORG_WEIGHTS, dtype=np.int64)
    check = 11 - total % 11
    return np.where(check == 11, 0, check).astype(np.int64)
