"""Chinese numerals → Arabic digits, for the address normaliser's hot path.

`cn2an` is the reference (the tests compare against it on 0–99999), but it validates with regular
expressions and raises on anything it does not like, which costs tens of µs a call; addresses need a
few hundred ns. This module parses the two forms addresses use:

- positional: 十四, 二十三, 一千零五十二, 两千, 三万五 (= 35000), 一千二 (= 1200), 十二万零三百;
- digit by digit: 六零一 → "601", 二〇〇一 → "2001" (leading zeros are kept: 零零一 → "001").

Anything else (a unit with no coefficient such as 万 or 百 alone, units out of order, 亿 and above, capital
numerals 壹贰叁) is "not a number" → None, so the caller leaves the text as written.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DIGIT_CHARS", "NUMERAL_CHARS", "cn_to_digits", "cn_to_int"]

# 幺 is the phone/radio reading of 1 (幺零一 = 101); only meaningful in digit-by-digit numbers.
_DIGIT: Final[dict[str, int]] = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "幺": 1,
}
_SMALL_UNIT: Final[dict[str, int]] = {"十": 10, "百": 100, "千": 1000}
_WAN: Final = "万"
_ZEROS: Final = frozenset("〇零")

#: Characters that may appear in a numeral (positional or digit by digit).
NUMERAL_CHARS: Final = frozenset(_DIGIT) | frozenset(_SMALL_UNIT) | {_WAN}
#: Characters of a digit-by-digit numeral (两 is never read digit by digit).
DIGIT_CHARS: Final = frozenset(_DIGIT) - {"两"}

# Longest run worth parsing: 十二万三千四百五十六 is 10 characters; anything longer is not one number.
_MAX_LEN: Final = 16
# Parsed runs repeat endlessly (二, 十四, 六零一 …); a memo makes the common case one dict lookup.
_MEMO: dict[str, str | None] = {}
_MEMO_MAX: Final = 8192


def _section(s: str) -> int | None:
    """Value of a positional numeral below 10,000 (no 万), or None if it is not one."""
    total = 0
    digit: int | None = None
    last_unit = 10_000  # units must strictly decrease: 千 > 百 > 十
    zero = False  # a 零 was seen since the last unit (一千零五 = 1005, not 1500)
    for ch in s:
        unit = _SMALL_UNIT.get(ch)
        if unit is None:
            d = _DIGIT.get(ch)
            if d is None or ch == "幺":
                return None
            if d == 0:
                if digit is not None:
                    return None
                zero = True
                continue
            if digit is not None:  # two digits in a row: 二三 is not positional
                return None
            digit = d
            continue
        if unit >= last_unit:
            return None
        if digit is None:
            # A bare 十 means 一十 (十四 = 14, 一千零十 = 1010); a bare 百/千 is not a number.
            if unit != 10:
                return None
            digit = 1
        total += digit * unit
        last_unit = unit
        digit = None
        zero = False
    if digit is not None:
        if zero or last_unit <= 10 or last_unit == 10_000:
            total += digit
        else:
            # Colloquial elision: 一千二 = 1200, 二百五 = 250 (the digit takes the next lower unit).
            total += digit * (last_unit // 10)
    return total  # a trailing 零 (一百零) adds nothing, as cn2an reads it


def _positional(s: str) -> int | None:
    head, wan, tail = s.partition(_WAN)
    if not wan:
        return _section(s)
    if not head or _WAN in tail:
        return None
    high = _section(head)
    if high is None or high == 0:
        return None
    if not tail:
        return high * 10_000
    if tail[0] in _ZEROS:
        low = _section(tail[1:]) if len(tail) > 1 else None
        return None if low is None else high * 10_000 + low
    if len(tail) == 1:
        d = _DIGIT.get(tail)
        if d is None or tail == "幺":
            return None
        return high * 10_000 + d * 1000  # 三万五 = 35000
    low = _section(tail)
    return None if low is None else high * 10_000 + low


def _convert(s: str) -> str | None:
    if not s or len(s) > _MAX_LEN:
        return None
    if all(ch in DIGIT_CHARS for ch in s):
        if len(s) == 1:
            return str(_DIGIT[s])
        return "".join(str(_DIGIT[ch]) for ch in s)
    if "幺" in s:
        return None
    value = _positional(s)
    return None if value is None else str(value)


def cn_to_digits(s: str) -> str | None:
    """The Arabic digits a Chinese numeral stands for, or None if `s` is not exactly one numeral.

    Digit-by-digit numerals keep their leading zeros ("零一" → "01"); positional ones give the value.
    """
    hit = _MEMO.get(s)
    if hit is not None or s in _MEMO:
        return hit
    result = _convert(s)
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()  # bounded: adversarial input must not grow memory without limit
    _MEMO[s] = result
    return result


def cn_to_int(s: str) -> int | None:
    """The value of a Chinese numeral, or None if `s` is not exactly one numeral."""
    digits = cn_to_digits(s)
    return None if digits is None else int(digits)
