"""Address element labels (the NAACL 2019 / CCKS scheme) and the suffix lexicon shared by the parsers.

The label names follow Li et al., "Neural Chinese Address Parsing" (NAACL 2019). The corpus spells a few in
camel case (devZone, subRoad, subRoadno); we keep one lower-case spelling everywhere.
"""

from __future__ import annotations

import unicodedata
from typing import Final

LABELS: Final[tuple[str, ...]] = (
    "country",
    "prov",
    "city",
    "district",
    "devzone",
    "town",
    "community",
    "road",
    "subroad",
    "roadno",
    "subroadno",
    "poi",
    "subpoi",
    "houseno",
    "cellno",
    "floorno",
    "roomno",
    "person",
    "assist",
    "redundant",
    "otherinfo",
)
LABEL_SET: Final[frozenset[str]] = frozenset(LABELS)

# Administrative levels in the order an address names them; the rule parser refuses to go back up this
# ladder, which is what stops the 市 of 城市花园 from being read as a city after a road was seen.
ADMIN_RANK: Final[dict[str, int]] = {
    "country": 0,
    "prov": 1,
    "city": 2,
    "district": 3,
    "devzone": 4,
    "town": 5,
    "community": 6,
    "road": 7,
    "subroad": 8,
    "poi": 9,
    "subpoi": 10,
}


def normalise_label(raw: str) -> str:
    """Map a corpus label (any case, with or without a B-/I-/E-/S- prefix) to our spelling."""
    label = raw.split("-", 1)[1] if len(raw) > 2 and raw[1] == "-" and raw[0] in "BIESbies" else raw
    label = label.lower()
    if label not in LABEL_SET:
        raise ValueError(f"unknown address label: {raw!r}")
    return label


# Words that end an element and name its level. Longest match wins where two end at the same place
# (社区 over 区, 街道 over 道), so the table does not need to be ordered.
ADMIN_SUFFIXES: Final[dict[str, str]] = {
    "省": "prov",
    "自治区": "prov",
    "特别行政区": "prov",
    "市": "city",
    "自治州": "city",
    "地区": "city",
    "区": "district",
    "县": "district",
    "自治县": "district",
    "旗": "district",
    "新区": "devzone",
    "开发区": "devzone",
    "高新区": "devzone",
    "工业区": "devzone",
    "保税区": "devzone",
    "经济开发区": "devzone",
    "镇": "town",
    "乡": "town",
    "街道": "town",
    "街道办": "town",
    "街道办事处": "town",
    "社区": "community",
    "村": "community",
    "居委会": "community",
    "村委会": "community",
    "路": "road",
    "街": "road",
    "大道": "road",
    "大街": "road",
    "公路": "road",
    "巷": "road",
    "胡同": "road",
    "弄": "road",
    "道": "road",
}

# Units that follow a number and say what the number is.
NUMBER_SUFFIXES: Final[dict[str, str]] = {
    "号": "roadno",
    "号院": "roadno",
    "弄": "roadno",
    "号楼": "houseno",
    "栋": "houseno",
    "座": "houseno",
    "幢": "houseno",
    "楼栋": "houseno",
    "单元": "cellno",
    "梯": "cellno",
    "楼": "floorno",
    "层": "floorno",
    "F": "floorno",
    "f": "floorno",
    "室": "roomno",
    "房": "roomno",
    "户": "roomno",
}

# Words that typically end an estate, building or place name; used as a hint feature, not to cut spans.
POI_SUFFIXES: Final[tuple[str, ...]] = (
    "园",
    "苑",
    "花园",
    "山庄",
    "大厦",
    "广场",
    "小区",
    "公寓",
    "中心",
    "大楼",
    "城",
    "府",
    "庭",
    "湾",
    "阁",
    "轩",
    "居",
    "公司",
    "医院",
    "学校",
    "中学",
    "小学",
    "大学",
    "酒店",
    "宾馆",
    "市场",
    "工业园",
    "科技园",
    "产业园",
    "家园",
    "新村",
    "宿舍",
    "商城",
    "批发市场",
)

ASSIST_WORDS: Final[tuple[str, ...]] = (
    "旁边",
    "附近",
    "对面",
    "隔壁",
    "旁",
    "内",
    "后面",
    "前面",
    "楼下",
    "东侧",
    "西侧",
    "南侧",
    "北侧",
)

CHINESE_DIGITS: Final[str] = "零〇一二两三四五六七八九十百千"


def char_class(ch: str) -> str:
    """Class of a character: D digit, A ASCII letter, C CJK, Z Chinese numeral, P punct, S space, O other."""
    if ch.isdigit():
        return "D"
    if ch.isascii() and ch.isalpha():
        return "A"
    if ch in CHINESE_DIGITS:
        return "Z"
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return "C"
    if ch.isspace():
        return "S"
    if unicodedata.category(ch).startswith("P") or ch in "_-~#+/\\|":
        return "P"
    return "O"


def half_width(ch: str) -> str:
    """Fold one full-width ASCII character (０-９, Ａ-Ｚ, －…) to half width; other characters unchanged.

    One character in, one out, so offsets on the original text survive.
    """
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if code == 0x3000:
        return " "
    return ch
