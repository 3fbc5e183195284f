"""Chinese identifiers for the generator: vectorised numpy builders for the millions it makes.

The scalar rules (check characters, validators) live in ``gridgov.core.identifiers``; this module
re-exports the check-character functions and constants the generator uses under their old names,
and adds array versions of the same arithmetic.

* **GB 11643-1999 citizen ID**: 6-digit area code + 8-digit birth date (YYYYMMDD) + 3-digit
  sequence (odd = male, even = female) + check character (ISO 7064 MOD 11-2).
* **GB 11714-1997 organisation code**: 8 body characters (digits, or letters valued A=10 … Z=35) +
  check: weights 3,7,9,10,5,8,4,2; ``11 - sum mod 11``, where 10 → ``X`` and 11 → ``0``.
* **GB 32100-2015 unified social credit code**: registration authority (1) + type (1) + admin area
  code (6) + organisation code (9, including its own GB 11714 check) + check (1), over a
  31-character alphabet.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridgov.core.identifiers import (
    CREDIT_CODE_ALPHABET,
    CREDIT_CODE_WEIGHTS,
    ORG_CODE_WEIGHTS,
    RESIDENT_ID_CHECK_CHARS,
    RESIDENT_ID_WEIGHTS,
    credit_code_check_char,
    org_code_check_char,
    resident_id_check_char,
)

__all__ = [
    "ID_CHECK_CHARS",
    "ID_WEIGHTS",
    "ORG_WEIGHTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "org_check_values",
    "org_code_check_char",
    "resident_id_check_char",
    "resident_id_check_indices",
    "uscc_check_char",
    "uscc_check_indices",
]

# The generator's names for core's constants and functions.
ID_WEIGHTS = RESIDENT_ID_WEIGHTS
ID_CHECK_CHARS = RESIDENT_ID_CHECK_CHARS
ORG_WEIGHTS = ORG_CODE_WEIGHTS
USCC_ALPHABET = CREDIT_CODE_ALPHABET
USCC_WEIGHTS = CREDIT_CODE_WEIGHTS
uscc_check_char = credit_code_check_char


def resident_id_check_indices(digits: NDArray[np.integer]) -> NDArray[np.intp]:
    """Vectorised check: ``digits`` is an (n, 17) integer array; returns indices into ID_CHECK_CHARS."""
    total = digits.astype(np.int64) @ np.array(ID_WEIGHTS, dtype=np.int64)
    return np.asarray(total % 11, dtype=np.intp)


def uscc_check_indices(values: NDArray[np.integer]) -> NDArray[np.intp]:
    """(n, 17) alphabet indices → index of the check character in USCC_ALPHABET."""
    total = values.astype(np.int64) @ np.array(USCC_WEIGHTS, dtype=np.int64)
    return np.asarray((31 - total % 31) % 31, dtype=np.intp)


def org_check_values(values: NDArray[np.integer]) -> NDArray[np.int64]:
    """(n, 8) GB 11714 character values → check value 0–10 (10 is written ``X``)."""
    total = values.astype(np.int64) @ np.array(ORG_WEIGHTS, dtype=np.int64)
    check = 11 - total % 11
    return np.where(check == 11, 0, check).astype(np.int64)
