"""Standard address text, and the messy ways people, landlords, clerks and callers write it.

The standard form of a dwelling (what the address library holds)::

    深圳市南山区 + 街道 + [路 + 门牌号 + 号] + [小区/村/大厦] + [楼栋] + [N单元] + 房号
    深圳市南山区南山街道向南路49号南粤山庄10栋601
    深圳市南山区南头街道北头村三坊12号402
    深圳市南山区粤海街道科苑路15号腾讯大厦A座1203

Every transformation that makes it messy has a name; the writer returns the names it applied, so
the ground-truth files say exactly what was injected into each row:

====================  ===============================================================================
defect                example
====================  ===============================================================================
no_district           district (南山区) left out
no_street             street (南山街道) left out
road_omitted          estate written without its road and gate number: 南粤山庄10栋601
site_omitted          road and gate number without the estate name: 向南路49号10栋601
village_abbrev        北头三坊12号 (村 dropped)
shorthand             10-601, 10-2-601
building_suffix       10座 / 10幢 / 10号楼 / 10栋楼 for 10栋
room_suffix           601室, 601房, 6楼601
chinese_numerals      十栋, 二单元, 六零一, 三坊十二号
fullwidth_digits      １０栋６０１
noise_words           旁边, 附近, 整套, 对面, (近地铁站)
typo                  a wrong but similar character: 南粤山装, 向南璐
extra_spaces          南粤山庄 10栋  601
====================  ===============================================================================

Randomness comes from a ``random.Random`` seeded from the feed's numpy stream, so the text is as
reproducible as the numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

CITY = "深圳市"
DISTRICT = "南山区"
PROVINCE = "广东省"

DEFECTS = (
    "no_district",
    "no_street",
    "road_omitted",
    "site_omitted",
    "village_abbrev",
    "shorthand",
    "building_suffix",
    "room_suffix",
    "chinese_numerals",
    "fullwidth_digits",
    "noise_words",
    "typo",
    "extra_spaces",
)

_DIGITS = "零一二三四五六七八九"
_FULLWIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
# Characters people confuse when typing pinyin or writing by hand (same sound or similar shape).
TYPOS: dict[str, str] = {
    "园": "圆",
    "苑": "院",
    "湾": "弯",
    "庄": "装",
    "峰": "锋",
    "华": "化",
    "城": "成",
    "厦": "夏",
    "景": "井",
    "居": "局",
    "馨": "欣",
    "丽": "利",
    "雅": "亚",
    "名": "明",
    "桂": "贵",
    "坊": "访",
    "巷": "项",
    "栋": "东",
    "座": "坐",
    "湖": "胡",
    "林": "琳",
    "新": "心",
    "道": "到",
    "桃": "陶",
    "源": "原",
    "庭": "廷",
    "府": "付",
    "阳": "杨",
    "光": "广",
    "粤": "越",
    "星": "兴",
    "荔": "利",
    "龙": "隆",
    "岭": "领",
    "滨": "宾",
    "沙": "砂",
    "河": "何",
    "珠": "朱",
    "翠": "萃",
    "碧": "璧",
    "路": "璐",
    "海": "嗨",
    "怡": "宜",
    "瑞": "锐",
    "鸿": "宏",
    "蔚": "尉",
    "馆": "管",
    "科": "可",
    "技": "记",
    "头": "投",
    "深": "森",
    "南": "楠",
}
_NOISE_END = ("旁边", "附近", "整套", "对面", "(近地铁站)", "楼下", "后面", "隔壁", "那里")
_SUFFIX_VARIANTS = ("座", "幢", "号楼", "栋楼")


def chinese_number(n: int) -> str:
    """Reading form: 3 → 三, 10 → 十, 12 → 十二, 25 → 二十五, 105 → 一百零五."""
    if n < 0:
        raise ValueError(n)
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n - 10] if n > 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        if rest == 0:
            tail = ""
        elif rest < 10:
            tail = "零" + _DIGITS[rest]
        else:
            tail = chinese_number(rest) if rest >= 20 else "一" + chinese_number(rest)
        return _DIGITS[n // 100] + "百" + tail
    return "".join(_DIGITS[int(c)] for c in str(n))


def chinese_digits(text: str) -> str:
    """Digit by digit, as room numbers are read aloud: 601 → 六零一."""
    return "".join(_DIGITS[int(c)] if c.isdigit() else c for c in text)


@dataclass(frozen=True, slots=True)
class Parts:
    street: str
    community: str
    road: str
    road_no: int
    site: str
    site_kind: str  # road | estate | village | office | industrial
    label: str  # 10栋, A座, 三坊12号 (villages), '' (a road building or a single tower)

    @property
    def road_text(self) -> str:
        return f"{self.road}{self.road_no}号" if self.road else ""


def standard_building(p: Parts, *, with_community: bool = False) -> str:
    community = p.community if with_community else ""
    return f"{CITY}{DISTRICT}{p.street}{community}{p.road_text}{p.site}{p.label}"


def room_text(unit: int, room: int) -> str:
    return (f"{unit}单元" if unit else "") + str(room)


def standard_dwelling(p: Parts, unit: int, room: int, *, with_community: bool = False) -> str:
    return standard_building(p, with_community=with_community) + room_text(unit, room)


@dataclass(frozen=True)
class Rates:
    """Probabilities of each transformation for one kind of writer."""

    # prefix options: (text kind, probability); kinds below
    prefix: tuple[tuple[str, float], ...]
    road_omitted: float
    site_omitted: float
    village_abbrev: float
    shorthand: float
    building_suffix: float
    room_suffix: float
    chinese_numerals: float
    fullwidth_digits: float
    noise_words: float
    typo: float
    extra_spaces: float


# Residents filling in a self-declaration form on their phone.
SELF_DECLARED = Rates(
    prefix=(
        ("province", 0.06),
        ("city", 0.14),
        ("district_street", 0.10),
        ("city_district", 0.12),
        ("district", 0.16),
        ("street", 0.04),
        ("none", 0.38),
    ),
    road_omitted=0.45,
    site_omitted=0.10,
    village_abbrev=0.15,
    shorthand=0.15,
    building_suffix=0.10,
    room_suffix=0.12,
    chinese_numerals=0.06,
    fullwidth_digits=0.04,
    noise_words=0.04,
    typo=0.03,
    extra_spaces=0.06,
)
# Door-access devices know their building; the resident only types the room.
DOOR_ACCESS = Rates(
    prefix=(("city", 0.55), ("district_street", 0.45)),
    road_omitted=0.0,
    site_omitted=0.0,
    village_abbrev=0.0,
    shorthand=0.03,
    building_suffix=0.0,
    room_suffix=0.10,
    chinese_numerals=0.01,
    fullwidth_digits=0.02,
    noise_words=0.0,
    typo=0.0,
    extra_spaces=0.02,
)
# Landlords registering a rental.
LANDLORD = Rates(
    prefix=(
        ("province", 0.05),
        ("city", 0.25),
        ("district_street", 0.15),
        ("city_district", 0.15),
        ("district", 0.15),
        ("none", 0.25),
    ),
    road_omitted=0.35,
    site_omitted=0.10,
    village_abbrev=0.10,
    shorthand=0.12,
    building_suffix=0.08,
    room_suffix=0.15,
    chinese_numerals=0.04,
    fullwidth_digits=0.03,
    noise_words=0.03,
    typo=0.02,
    extra_spaces=0.05,
)
# Business operating addresses as typed by applicants (registered addresses are formal).
BUSINESS = Rates(
    prefix=(
        ("city", 0.45),
        ("district_street", 0.20),
        ("city_district", 0.15),
        ("district", 0.10),
        ("none", 0.10),
    ),
    road_omitted=0.15,
    site_omitted=0.15,
    village_abbrev=0.05,
    shorthand=0.05,
    building_suffix=0.05,
    room_suffix=0.25,
    chinese_numerals=0.01,
    fullwidth_digits=0.02,
    noise_words=0.01,
    typo=0.02,
    extra_spaces=0.04,
)
# 12345 call-takers typing what a caller says: homophone typos, few prefixes.
HOTLINE = Rates(
    prefix=(("city_district", 0.20), ("district_street", 0.25), ("district", 0.25), ("none", 0.30)),
    road_omitted=0.40,
    site_omitted=0.15,
    village_abbrev=0.15,
    shorthand=0.05,
    building_suffix=0.08,
    room_suffix=0.0,
    chinese_numerals=0.05,
    fullwidth_digits=0.01,
    noise_words=0.0,
    typo=0.08,
    extra_spaces=0.04,
)
# Grid workers and the public describing where a problem is, in an app.
REPORTER = Rates(
    prefix=(("district_street", 0.10), ("district", 0.15), ("street", 0.10), ("none", 0.65)),
    road_omitted=0.45,
    site_omitted=0.15,
    village_abbrev=0.20,
    shorthand=0.0,
    building_suffix=0.08,
    room_suffix=0.0,
    chinese_numerals=0.03,
    fullwidth_digits=0.01,
    noise_words=0.0,
    typo=0.04,
    extra_spaces=0.04,
)


def _prefix(p: Parts, kind: str) -> str:
    return {
        "province": f"{PROVINCE}{CITY}{DISTRICT}{p.street}",
        "city": f"{CITY}{DISTRICT}{p.street}",
        "district_street": f"{DISTRICT}{p.street}",
        "city_district": f"{CITY}{DISTRICT}",
        "district": DISTRICT,
        "street": p.street,
        "none": "",
    }[kind]


def _choose(r: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    x = r.random()
    acc = 0.0
    for kind, prob in options:
        acc += prob
        if x < acc:
            return kind
    return options[-1][0]


def _abbreviable(village: str) -> bool:
    """北头村 → 北头 is how people write it; 后海新村 → 后海新 is not."""
    return village.endswith("村") and not village.endswith(("新村", "二村")) and len(village) > 2


def _typo(r: random.Random, text: str) -> str | None:
    positions = [i for i, c in enumerate(text) if c in TYPOS]
    if not positions:
        return None
    i = positions[r.randrange(len(positions))]
    return text[:i] + TYPOS[text[i]] + text[i + 1 :]


def _split_label(label: str) -> tuple[str, str]:
    """'10栋' → ('10', '栋'); 'A座' → ('A', '座'); '' → ('', '')."""
    if label.endswith(("栋", "座")):
        return label[:-1], label[-1]
    return label, ""


def _village_label(r: random.Random, label: str, numerals: bool) -> tuple[str, bool]:
    """'三坊12号' with optional Arabic lane (3坊) or Chinese house number (十二号)."""
    lane_end = next(i for i, c in enumerate(label) if c in "坊巷排")
    lane, word, house = label[:lane_end], label[lane_end], label[lane_end + 1 : -1]
    changed = False
    if numerals and house.isdigit():
        house = chinese_number(int(house))
        changed = True
    elif lane.isdigit() and numerals:
        lane = chinese_number(int(lane))
        changed = True
    elif not lane.isdigit() and r.random() < 0.3:
        # Chinese lane numbers are often written in digits (3坊): a variant, not a defect.
        lane = str(_from_chinese(lane))
    return f"{lane}{word}{house}号", changed


def _from_chinese(text: str) -> int:
    if text.isdigit():
        return int(text)
    value = 0
    if "百" in text:
        head, text = text.split("百", 1)
        value += _DIGITS.index(head) * 100
        text = text.lstrip("零")
    if "十" in text:
        head, tail = text.split("十", 1)
        value += (_DIGITS.index(head) if head else 1) * 10
        text = tail
    if text:
        value += _DIGITS.index(text)
    return value


def messy_dwelling(p: Parts, unit: int, room: int, r: random.Random, rates: Rates) -> tuple[str, list[str]]:
    """A dwelling address as someone would write it, and the names of the defects applied."""
    defects: list[str] = []
    prefix = _written_prefix(p, r, rates, defects)

    numerals = r.random() < rates.chinese_numerals
    used_numerals = False
    if p.site_kind == "village":
        name = _written_village(p.site, r, rates, defects)
        label, used_numerals = _village_label(r, p.label, numerals)
        body = name + label
    else:
        road, name = _written_road_and_site(p.road_text, p.site, r, rates, defects)
        body = road + name
        label = p.label

    # Building, unit, room.
    number, suffix = _split_label(label) if p.site_kind != "village" else ("", "")
    room_s = str(room)
    tail: str
    if p.site_kind != "village" and number and suffix == "栋" and r.random() < rates.shorthand:
        tail = f"{number}-{unit}-{room_s}" if unit else f"{number}-{room_s}"
        defects.append("shorthand")
    else:
        if p.site_kind != "village" and number:
            building, numbered = _written_building(number, suffix, numerals, r, rates, defects)
            used_numerals = used_numerals or numbered
        else:
            building = ""
        unit_s = ""
        if unit:
            unit_s = (chinese_number(unit) if numerals else str(unit)) + "单元"
            used_numerals = used_numerals or numerals
        spoken = numerals and r.random() < 0.5  # room read aloud digit by digit: 六零一
        if spoken:
            used_numerals = True
        spoken_room = chinese_digits(str(room)) if spoken else str(room)
        if r.random() < rates.room_suffix:
            form = r.randrange(3)
            floor = room // 100
            floor_text = chinese_number(floor) if spoken else str(floor)
            room_s = (f"{spoken_room}室", f"{spoken_room}房", f"{floor_text}楼{spoken_room}")[form]
            defects.append("room_suffix")
        else:
            room_s = spoken_room
        tail = building + unit_s + room_s
    if used_numerals:
        defects.append("chinese_numerals")

    pieces = [prefix, _written_body(body, r, rates, defects), tail]
    text = _finish(r, pieces, rates, defects)
    return text, _ordered(defects)


def messy_place(p: Parts, r: random.Random, rates: Rates, where: str) -> tuple[str, list[str]]:
    """Where an event is, as a caller or a reporter puts it: 南粤山庄10栋楼下, 向南路49号门口."""
    defects: list[str] = []
    prefix = _written_prefix(p, r, rates, defects)
    numerals = r.random() < rates.chinese_numerals
    if p.site_kind == "village":
        name = _written_village(p.site, r, rates, defects)
        label, used = _village_label(r, p.label, numerals)
        if used:
            defects.append("chinese_numerals")
        body = name + label
    else:
        road, name = _written_road_and_site(p.road_text, p.site, r, rates, defects)
        number, suffix = _split_label(p.label)
        building, numbered = _written_building(number, suffix, numerals, r, rates, defects)
        if numbered:
            defects.append("chinese_numerals")
        body = road + name + building
    pieces = [prefix, _written_body(body, r, rates, defects), where]
    text = _finish(r, pieces, rates, defects, noise=False)
    return text, _ordered(defects)


def _written_prefix(p: Parts, r: random.Random, rates: Rates, defects: list[str]) -> str:
    """The administrative prefix as written (深圳市南山区…, 南山区, nothing), noting what it leaves out."""
    prefix = _prefix(p, _choose(r, rates.prefix))
    if DISTRICT not in prefix:
        defects.append("no_district")
    if p.street not in prefix:
        defects.append("no_street")
    return prefix


def _written_village(name: str, r: random.Random, rates: Rates, defects: list[str]) -> str:
    """A village name, 村 sometimes dropped (北头村 → 北头)."""
    if r.random() < rates.village_abbrev and _abbreviable(name):
        defects.append("village_abbrev")
        return name[:-1]
    return name


def _written_road_and_site(
    road: str, name: str, r: random.Random, rates: Rates, defects: list[str]
) -> tuple[str, str]:
    """Road-and-gate text and site name; where there are both, one of them is sometimes left out."""
    if name and road:
        x = r.random()
        if x < rates.road_omitted:
            road = ""
            defects.append("road_omitted")
        elif x < rates.road_omitted + rates.site_omitted:
            name = ""
            defects.append("site_omitted")
    return road, name


def _written_building(
    number: str, suffix: str, numerals: bool, r: random.Random, rates: Rates, defects: list[str]
) -> tuple[str, bool]:
    """A building label (10栋 → 10座, 十栋) and whether it was written in Chinese numerals."""
    if number and suffix == "栋" and r.random() < rates.building_suffix:
        suffix = _SUFFIX_VARIANTS[r.randrange(len(_SUFFIX_VARIANTS))]
        defects.append("building_suffix")
    numbered = numerals and number.isdigit()
    if numbered:
        number = chinese_number(int(number))
    return number + suffix, numbered


def _written_body(body: str, r: random.Random, rates: Rates, defects: list[str]) -> str:
    """The place part of an address, sometimes with a typo in it."""
    if r.random() < rates.typo:
        changed = _typo(r, body)
        if changed is not None:
            defects.append("typo")
            return changed
    return body


def _finish(
    r: random.Random, pieces: list[str], rates: Rates, defects: list[str], *, noise: bool = True
) -> str:
    if noise and r.random() < rates.noise_words:
        pieces.append(_NOISE_END[r.randrange(len(_NOISE_END))])
        defects.append("noise_words")
    if r.random() < rates.extra_spaces:
        text = (" " * (1 + r.randrange(2))).join(x for x in pieces if x)
        if r.random() < 0.3:
            text = " " + text + " "
        defects.append("extra_spaces")
    else:
        text = "".join(pieces)
    if r.random() < rates.fullwidth_digits and any(c.isdigit() for c in text):
        text = text.translate(_FULLWIDTH)
        defects.append("fullwidth_digits")
    return text


def _ordered(defects: list[str]) -> list[str]:
    seen = set(defects)
    return [d for d in DEFECTS if d in seen]
