"""Address matcher: free text → ranked standard addresses, score, match level and reason (issue 4, item 5).

Two stages, both on `normalize`d text (the library and the queries meet in one form):

1. **Candidates.** An inverted index on the character bigrams of every library text, IDF-weighted
   (binary term frequency, cosine against the library side). A query touches only the postings of its own
   bigrams; the sums run in numpy (`np.add.at` into a reused accumulator), so the cost follows the
   postings touched, not the library size. Bigrams present in more than `MAX_DF_SHARE` of the library
   ("宝安", "街道") are skipped: they carry almost no IDF and would make every query touch every record.
   The best `TOP_K` go on.
2. **Re-ranking** by a component-aware score. Each text is split into an admin prefix (district, street,
   community — learned from the library itself), the numbers that identify a place (号 house number,
   栋/座 building, 单元 unit, 层 floor, 区/巷/期/坊 … numbered zones and lanes, bare numbers such as a
   room or the "10-601" shorthand) and the name that is left. Then

   ``score = name_similarity × Π(number factors) × admin factor``

   - *name similarity*: rapidfuzz ratio of the two names, or the share of the candidate name the query
     covers when that is higher (people drop the road: "南景豪庭A栋" for "布沙路162号南景豪庭A栋"), or
     of the two names without their generic estate words (花园, 小区, 大厦, 家园, 名苑, 苑, 公寓) at
     `ESTATE_SUFFIX`: "俊峰丽舍" is "俊峰丽舍花园";
   - *numbers*: every number of the candidate is looked up in the query. Agree → 1. A number of the
     same kind with another value ("3栋" against "5栋") → `CONFLICT` (0.45): siblings of the right
     place must lose to it whatever their names. A value that ends the same way ("188号" for "10188号")
     → `NEAR` (0.80: weaker evidence than a name that is 15% looser). Not mentioned by the query →
     `MISSING` (0.97: neutral in spirit, but when the library holds both "X花园" and its "X花园3栋"
     the coarser one wins for a query that names no building).
     A building/number/unit the query names but the candidate lacks → `EXTRA_COARSE` (0.90, so the
     candidate that has it wins); a room, floor or bare number the candidate lacks → 1 (standard
     addresses often stop at the building; the query's room is finer detail, not disagreement);
   - *admin*: a district, street or community the query names and the candidate contradicts →
     `ADMIN_CONFLICT`; names the query omits are neutral (a third of real addresses omit the district).

Shorthands are read on the query side only: "10-601" / "10#601" (building 10, room 601), "A-5E" (block A),
joined house number + room ("15103" = 15号 room 103, checked against the candidate's number), "B180栋"
for "B区180栋", "A栋" for "A座" when the query names no 座, "1一单元" (building 1, unit 1) also as the glued
"11单元" that libraries converting numerals write. On both sides, a building list followed by the building
meant ("天明居A、B栋B栋1703") is read as that building, on the raw text (the normaliser folds the repeat),
and a community named inside the body ("46区海富社区怡华新村") is learned as well as one at the start.

`level` is the finest level at which query and candidate agree: room, building, number, road, estate,
community, street, none. `reason` lists what agreed and what differed ("road 科苑路 =; number 15 =;
building 3 ≠ 5").
"""

from __future__ import annotations

import heapq
import itertools
import re
import unicodedata
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import Indel

from gridgov.address.normalize import normalize

__all__ = [
    "AUTO_ACCEPT",
    "LEVELS",
    "REVIEW_BAND",
    "TOP_K",
    "Candidate",
    "Matcher",
    "StdRecord",
    "decide",
]

#: A best candidate at or above this score is accepted without a human look. Chosen on the Shenzhen
#: pairs with siblings (bench/match_accuracy.py): 97.0% of the queries land here, 99.5% of them right.
#: A correct candidate whose numbers are all found in the query and whose name ratio is ≥ ~0.85 lands
#: here; any number conflict (× 0.45) drops a candidate below it.
AUTO_ACCEPT: Final = 0.80
#: [low, AUTO_ACCEPT): "needs verification" — likely right place but a missing number, a near number or
#: a loose name; below `low` the record is reported unmatched (with the reason of the best candidate).
REVIEW_BAND: Final = (0.50, AUTO_ACCEPT)

#: Candidates re-ranked per query. The right record is in the top 30 by bigram cosine for ~99.9% of the
#: Shenzhen queries with siblings (bench prints the recall); more costs time for nothing.
TOP_K: Final = 30
#: Parents (buildings) whose children (dwellings) are looked up for a query that names a room.
PARENTS_EXPANDED: Final = 3
#: Bigrams in more than this share of the library are not looked up (see module doc).
MAX_DF_SHARE: Final = 0.10

#: Match levels from finest to coarsest.
LEVELS: Final = ("room", "building", "number", "road", "estate", "community", "street", "none")

CONFLICT: Final = 0.45
NEAR: Final = 0.80
MISSING: Final = 0.97
UNTYPED_MISSING: Final = 0.90
EXTRA_COARSE: Final = 0.90
ADMIN_CONFLICT: Final = 0.6
#: The query names a district/street/community the candidate does not: a whisker, so that of two
#: otherwise equal records the one that carries the query's admin names wins.
ADMIN_MISSING: Final = 0.99
#: The query leaves out the candidate's road (and usually its number): "南景豪庭A栋" for
#: "布沙路162号南景豪庭A栋". The name is compared without the road at this cost.
ROAD_OMITTED: Final = 0.97
#: The query leaves out the estate and keeps the road: "前海路58号1栋" for "前海路58号大磡安居苑1栋".
SITE_OMITTED: Final = 0.95
#: Agreements read through a shorthand are a whisker weaker than written ones, so that an exact
#: "2204号" beats "2号" + room 204 for "2204".
#: The names agree once their generic estate words are set aside ("俊峰丽舍" for "俊峰丽舍花园").
ESTATE_SUFFIX: Final = 0.98
JOINED_3: Final = 0.99
JOINED_4: Final = 0.98
CROSS_KIND: Final = 0.98
#: A value the query lists before the one it means ("9栋、11栋11栋201" means 11栋).
LISTED: Final = 0.98

# Unit word after a number → component kind. 栋 and # are buildings; 座 is its own level (16栋B座) but
# stands in for a building when only one of the two is written.
_KIND_OF_UNIT: Final[dict[str, str]] = {
    "号": "number",
    "栋": "building",
    "#": "building",
    "座": "block",
    "单元": "unit",
    "层": "floor",
    "区": "zone",
    "巷": "lane",
    "期": "phase",
    "坊": "lane",
    "排": "row",
    "组": "group",
    "弄": "lane",
}
# Numbered zones and lanes are also part of the name ("岭下花园13巷", "老街3区"): kept in the name text.
_NAME_KINDS: Final = frozenset({"zone", "lane", "phase", "row", "group"})
# 号 / 栋 / 座 are mixed up in writing ("301号楼房", "A栋" for "A座"): a value of one may stand for another.
_CROSS: Final[dict[str, tuple[str, ...]]] = {
    "number": ("building", "block"),
    "building": ("block", "number"),
    "block": ("building", "number"),
}
# Kinds that say which place it is, not where inside it: a query may carry them when the standard does not.
_FINE_KINDS: Final = frozenset({"floor", "room", "bare"})
# Kind → the level it proves when it agrees.
_LEVEL_OF_KIND: Final[dict[str, str]] = {
    "room": "room",
    "building": "building",
    "block": "building",
    "unit": "building",
    "floor": "building",
    "number": "number",
}
_LABEL: Final[dict[str, str]] = {"bare": "no."}

_UNIT_ALT: Final = "单元|号|栋|座|层|区|巷|期|坊|排|组|弄|#"
# A number token: digits with letters around them, or letters alone right before a unit word; "-" joins
# parts (5-4号, 239-241号, 10-601, A-5E). The unit word, if any, gives the kind.
_TOKEN_RE: Final = re.compile(
    r"(?<![0-9A-Z])(?P<v>(?:[A-Z]{1,2}-)?[A-Z]{0,2}[0-9]+[A-Z]{0,2}(?:-[0-9A-Z]+)*"
    rf"|[A-Z]{{1,2}}(?={_UNIT_ALT}))(?P<u>{_UNIT_ALT})?"
)
_FLOOR_F_RE: Final = re.compile(r"^[0-9]+F$")
_ZEROS_RE: Final = re.compile(r"(?<![0-9])0+(?=[0-9])")
_LETTER_DASH_RE: Final = re.compile(r"(?<=[A-Z])-+(?=[0-9])")
# 第3工业区 (the query) is 三工业区 (the library): an ordinal that is not before a unit word is part of a
# name, and the library writes those in Chinese. The normaliser turns 第三 into 第3; undo that here.
_ORDINAL_NAME_RE: Final = re.compile(r"第([1-9])(?![0-9]|" + _UNIT_ALT + ")")
_CN_DIGIT: Final = "〇一二三四五六七八九"
# Roads inside a name, for the reason text and the "road" level.
_ROAD_RE: Final = re.compile(
    r"(?<![0-9A-Z])[\u4e00-\u9fff]{1,8}?(?:大道|路|街|公路|国道)(?![\u4e00-\u9fff]{0,1}[道路])"
)

_SZ_DISTRICTS: Final = (
    "福田区",
    "罗湖区",
    "南山区",
    "宝安区",
    "龙岗区",
    "盐田区",
    "龙华区",
    "坪山区",
    "光明区",
    "大鹏新区",
    "深汕特别合作区",
)
_SZ_DISTRICT_HEADS: Final = frozenset(d[:2] for d in _SZ_DISTRICTS)
# Province and city at the head of a raw text ("深圳湾" is a place, not the city).
_RAW_HEAD_RE: Final = re.compile(r"(?:广东省|广东)?(?:深圳市|深圳(?!湾))?")
_ADMIN_HEAD_RE: Final = re.compile(r"^(?:广东省?)?(?:深圳市)?")
_DISTRICT_RE: Final = re.compile(r"^([\u4e00-\u9fff]{2,4}?(?:新区|区))(?=[\u4e00-\u9fff])")
_STREET_RE: Final = re.compile(r"^([\u4e00-\u9fff]{2,4}?)(?:街道办事处|街道办|街道|办事处)")
# An admin name inside the body ("46区海富社区怡华新村", "西区南头街道商业街"): dropped from the name when
# the library knows it.
_INNER_ADMIN_RE: Final = re.compile(r"社区|街道")
# A community named inside the body, after a numbered zone, a street or a house number ("46区海富社区怡华
# 新村40号"): the hierarchy district → street → community is often written out of order.
_BODY_COMMUNITY_RE: Final = re.compile(r"(?<=[区道号])([\u4e00-\u9fff]{2,3}?)社区")
# What may follow a building in a text the exact path reads: unit, floor, room ("2单元601", "6层601",
# "-601", "2-601", "601号"). Anything else (a typo, a remark, another name) goes to the full matcher.
_REST_RE: Final = re.compile(
    r"^[-#]?(?:(?P<unit>[0-9]{1,2}|[A-Z])(?:单元|-))?(?:(?P<floor>[0-9]{1,3})层)?"
    r"(?P<room>[0-9]{1,5}[A-Z]?|[A-Z][0-9]{1,4})?号?$"
)
_ROOM_WORD_RE: Final = re.compile(r"(室|房|号)$")
_UNIT_WORD_RE: Final = re.compile(r"单元$")
# Road + house number at the start of a body ("向南路49号"): what people leave out, or keep alone.
_ROAD_NUMBER_RE: Final = re.compile(
    r"^[\u4e00-\u9fff0-9]{1,10}?(?:大道|路|街|道|公路)[0-9]+(?:-[0-9]+)?号(?![楼栋])"
)
# The building label that ends a body ("10栋", "A座", "1排1号" is not one).
_LABEL_TAIL_RE: Final = re.compile(r"[0-9A-Z]{1,4}(?:栋|座)$")
# 村 before a numbered lane or row is often left out ("北头3坊12号" for "北头村3坊12号").
_VILLAGE_WORD_RE: Final = re.compile(r"(?<=[\u4e00-\u9fff]{2})村(?=[0-9]+[排坊巷])")
# A run of Chinese characters between numbers: a name, once a unit word left at its head is stripped.
_NAME_RUN_RE: Final = re.compile(r"[\u4e00-\u9fff]{3,}")
_UNIT_HEADS: Final = "号栋座幢单元层室房巷弄排坊区期组"
_HALF: Final = 1 << 63  # Python hashes are signed 64-bit: shifted to unsigned for bucketing
_ALNUM: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# A list of buildings followed by the one meant: "天明居A、B栋B栋1703" is building B of the A/B complex,
# "新城市花园1、2栋2栋" building 2. Read on the raw text: the normaliser folds the repeat ("A、B栋").
_LIST_RE: Final = re.compile(
    r"(?<![0-9A-Z])((?:[0-9A-Z]{1,4}(?:栋|座|幢|号楼)?[、,/])+[0-9A-Z]{1,4}(栋|座|幢|号楼))([0-9A-Z]{1,4})\2"
)
# A number right before a unit written in Chinese ("3号楼房1一单元", "183-2一单元") is a building and its
# unit; libraries that convert numerals write the two glued ("11单元", "183-21单元").
_GLUED_UNIT_RE: Final = re.compile(r"(?<![0-9A-Z])([0-9A-Z]+(?:-[0-9]+)*)([一二三四五六七八九])单元")
# Generic estate words: "俊峰丽舍花园" and "俊峰丽舍" are one estate, people drop or add the word. Only
# after two characters of name, so "榕苑" keeps its 苑.
_ESTATE_SUFFIX_RE: Final = re.compile(r"(?<=[\u4e00-\u9fff]{2})(?:花园|小区|大厦|家园|名苑|苑|公寓)")
_COMMUNITY_RE: Final = re.compile(r"^([\u4e00-\u9fff]{2,5}?)(?:社区居委会|社区工作站|社区|居委会|居委)")


@dataclass(frozen=True, slots=True)
class StdRecord:
    """One standard address of the library. Components, when known, are added to what the text says."""

    code: str
    text: str
    road: str | None = None
    house_number: str | None = None
    site_name: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: int | None = None
    room: str | None = None
    #: Code of the record this one lies inside (a dwelling's building). Children are not indexed for
    #: retrieval: the matcher finds the parent, then the child by its unit/floor/room.
    parent: str | None = None


@dataclass(slots=True)
class Candidate:
    code: str
    text: str
    score: float
    level: str
    reason: str
    #: The code of the record this one lies inside (its building), for a child record.
    parent: str | None = None


@dataclass(slots=True)
class _Parsed:
    """A normalised text split for comparison (both library records and queries)."""

    norm: str
    district: str | None
    street: str | None
    community: str | None
    name: str  # the body without its number tokens (numbered zones and lanes stay)
    # query: the name without a bare street ("西乡鸣乐街" → "鸣乐街"); library: the name without its road
    alt_name: str | None
    tokens: list[tuple[str, str]]  # (kind, value) in text order
    by_kind: dict[str, list[str]] = field(default_factory=dict)
    road: str | None = None
    # name and alt_name without their generic estate words (see `_ESTATE_SUFFIX_RE`)
    core: str = ""
    alt_core: str | None = None


def _canon_value(v: str, typed: bool = False) -> str:
    if v.isdigit() and v[0] != "0":
        return v  # the common case ("601"): nothing to strip, no regex call
    v = _ZEROS_RE.sub("", v)
    if typed and "-" in v:
        v = _LETTER_DASH_RE.sub("", v)  # "A-1栋" = "A1栋"
    return v


def decide(score: float) -> str:
    """accept | review | reject for a best candidate's score (see `AUTO_ACCEPT`, `REVIEW_BAND`)."""
    if score >= AUTO_ACCEPT:
        return "accept"
    if score >= REVIEW_BAND[0]:
        return "review"
    return "reject"


def _read_list(text: str) -> str:
    """`text` with a building list followed by the building meant reduced to that building ("A、B栋B栋1703"
    → "B栋1703"); `text` itself when it has none."""
    if "、" not in text and "," not in text and "，" not in text and "/" not in text:
        return text
    folded = unicodedata.normalize("NFKC", text).upper()
    m = _LIST_RE.search(folded)
    if m is None or m.group(3) not in re.findall(r"[0-9A-Z]+", m.group(1)):
        return text
    return folded[: m.start()] + m.group(3) + m.group(2) + folded[m.end() :]


def _bigrams(s: str) -> list[str]:
    if len(s) < 2:
        return [s] if s else []
    return [s[i : i + 2] for i in range(len(s) - 1)]


class _Strings:
    """Many strings in one UTF-8 buffer with an offset array: no Python object per string.

    `array` rather than numpy for the offsets and the other per-child columns: an element read from an
    `array` is a plain int at C speed; from numpy it is a numpy scalar, ten times slower to use."""

    def __init__(self, items: Iterable[str]) -> None:
        encoded = [item.encode() for item in items]
        self._offsets = array("q", itertools.accumulate((len(e) for e in encoded), initial=0))
        self._data = b"".join(encoded)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        return self._data[self._offsets[i] : self._offsets[i + 1]].decode()


class _HashIndex:
    """hash → owners, for a million keys without a Python object per key: the (hash, owner) pairs sorted
    in two arrays, and the start of each bucket of hashes (by their top bits, about one key per bucket),
    so a lookup reads a few array cells instead of bisecting (which costs ~20 reads)."""

    def __init__(self, keyed: list[tuple[int, int]]) -> None:
        hashes = np.fromiter((h for h, _o in keyed), np.int64, len(keyed))
        owners = np.fromiter((o for _h, o in keyed), np.int32, len(keyed))
        order = np.argsort(hashes, kind="stable")
        hashes, owners = hashes[order], owners[order]
        bits = max(1, len(keyed).bit_length())
        self._shift = 64 - bits
        buckets = (hashes.view(np.uint64) ^ np.uint64(_HALF)) >> np.uint64(self._shift)
        starts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(buckets.astype(np.int64), minlength=1 << bits), out=starts[1:])
        self._hash = array("q", hashes.tobytes())
        self._owner = array("i", owners.tobytes())
        self._start = array("q", starts.tobytes())

    def get(self, h: int) -> list[int]:
        b = (h + _HALF) >> self._shift
        hashes = self._hash
        return [self._owner[j] for j in range(self._start[b], self._start[b + 1]) if hashes[j] == h]


class Matcher:
    """Match free-text addresses against a library of standard records (see the module documentation)."""

    def __init__(self, records: Iterable[StdRecord]) -> None:
        given = list(records)
        self._streets: set[str] = set()
        self._communities: set[str] = set()
        top, children_of = self._split_levels(given)
        norm_of = {i: normalize(given[i].text) for i in top}
        # Children (dwellings) whose unit and room can be read are kept apart, compactly (see
        # `_store_children`); the others are indexed like any record.
        rooms: list[tuple[int, int, str, str]] = []  # (parent, child, unit, room), indices into `given`
        for parent, children in children_of.items():
            for i in children:
                key = self._room_key(given[i], norm_of[parent])
                if key is None:
                    top.append(i)
                    norm_of[i] = normalize(given[i].text)
                else:
                    rooms.append((parent, i, *key))
        #: Top-level records, the ones retrieval indexes; an id below `len(records)` is one of them, an id
        #: above it a child (see `_record`).
        self.records: list[StdRecord] = [given[i] for i in top]
        norms = [norm_of[i] for i in top]
        self._store_children(given, {i: t for t, i in enumerate(top)}, rooms)
        del given, norm_of, children_of, rooms
        # Parsed from the text with its building lists read (see `_read_list`); the index keeps the text.
        read = [
            normalize(t) if (t := _read_list(r.text)) != r.text else n
            for r, n in zip(self.records, norms, strict=True)
        ]
        # Learn the street and community names from the library itself, so the query side can drop a bare
        # street name ("宝安区西乡鸣乐街") and so the matcher works for any Shenzhen district.
        for n in norms:
            rest = _ADMIN_HEAD_RE.sub("", n, count=1)
            m = _DISTRICT_RE.match(rest)
            if m and (m.group(1) in _SZ_DISTRICTS or len(m.group(1)) == 3):
                rest = rest[m.end() :]
            m = _STREET_RE.match(rest)
            if m:
                self._streets.add(m.group(1))
                rest = rest[m.end() :]
            m = _COMMUNITY_RE.match(rest)
            if m:
                self._communities.add(m.group(1))
            if "社区" in rest:
                self._communities.update(b.group(1) for b in _BODY_COMMUNITY_RE.finditer(rest))
        self._parsed: list[_Parsed] = [
            self._parse(n, self._add_components(r), is_library=True)
            for r, n in zip(self.records, read, strict=True)
        ]
        self._child_parsed: dict[int, _Parsed] = {}
        self._build_index(norms)
        self._build_keys()
        self._build_verbatim()
        self._build_names()

    @staticmethod
    def _split_levels(given: Sequence[StdRecord]) -> tuple[list[int], dict[int, list[int]]]:
        """Indices of the records to index for retrieval (no parent in the library), and the children of
        each (a room inside a unit inside a building is the building's)."""
        position = {r.code: i for i, r in enumerate(given) if r.parent is None}
        top: list[int] = []
        children_of: dict[int, list[int]] = {}
        nested: dict[str, str] = {r.code: r.parent for r in given if r.parent is not None}
        for i, r in enumerate(given):
            if r.parent is None:
                top.append(i)
                continue
            ancestor: str | None = r.parent
            for _ in range(8):
                if ancestor is None or ancestor in position:
                    break
                ancestor = nested.get(ancestor)
            parent = position.get(ancestor) if ancestor is not None else None
            if parent is None:
                top.append(i)  # its parent is not in the library: a record like any other
            else:
                children_of.setdefault(parent, []).append(i)
        return top, children_of

    def _store_children(
        self, given: Sequence[StdRecord], top_id: dict[int, int], rooms: Sequence[tuple[int, int, str, str]]
    ) -> None:
        """Children in columns, not objects: a million dwellings as Python objects would cost ~0.5 GB, and
        forked workers would copy every page whose reference counts they touch. Found by room: a sorted
        array of hash(parent, room) and hash(parent, unit|room), checked against the stored unit/room."""
        self._child_code = _Strings(given[i].code for _p, i, _u, _r in rooms)
        self._child_text = _Strings(given[i].text for _p, i, _u, _r in rooms)
        self._child_room = _Strings(f"{u}\x1f{r}" for _p, _i, u, r in rooms)
        self._child_parent = array("i", (top_id[p] for p, _i, _u, _r in rooms))
        self._child_floor = array(
            "i", (-1 if (f := given[i].floor) is None else f for _p, i, _u, _r in rooms)
        )
        # Which of unit and room came as components (1, 2) rather than from the text: `_record` gives back
        # what was given, so a child scores the same whichever way it arrived.
        self._child_given = bytes(
            (1 if given[i].unit else 0) | (2 if given[i].room else 0) for _p, i, _u, _r in rooms
        )
        keyed: list[tuple[int, int]] = []
        for j, (p, _i, unit, room) in enumerate(rooms):
            parent = top_id[p]
            keyed.append((hash((parent, room)), j))
            if unit:
                keyed.append((hash((parent, f"{unit}|{room}")), j))
        self._rooms = _HashIndex(keyed)
        has_children = bytearray(len(top_id))
        for parent in self._child_parent:
            has_children[parent] = 1
        self._has_children = bytes(has_children)

    def _build_verbatim(self) -> None:
        """hash(body) → record id, the body being the text as written after its admin prefix (province,
        city, district, street): a typical list copies many addresses exactly as a system writes them, with
        or without that prefix. Sorted hashes in an array, checked against the body when looked up."""
        base = len(self.records)
        keyed = [(hash(self._raw_split(r.text)[2]), i) for i, r in enumerate(self.records)]
        keyed += [
            (hash(self._raw_split(self._child_text[j])[2]), base + j) for j in range(len(self._child_text))
        ]
        self._texts = _HashIndex(keyed)

    def _raw_split(self, text: str) -> tuple[str | None, str | None, str]:
        """District and street (as `_split_admin` names them) written at the head of a raw text, and the
        rest as written: no normalisation, so it costs a fraction of `normalize`."""
        m = _RAW_HEAD_RE.match(text)
        pos = m.end() if m else 0
        district = None
        if text[pos : pos + 2] in _SZ_DISTRICT_HEADS:
            district = next((d for d in _SZ_DISTRICTS if text.startswith(d, pos)), None)
            if district is not None:
                pos += len(district)
        street = None
        end = text.find("街道", pos + 2, pos + 7)
        if end > 0 and text[pos:end] in self._streets:
            street = text[pos:end]
            pos = end + 2
        return district, street, text[pos:]

    def _verbatim(self, text: str) -> Candidate | None:
        """The record whose text is `text` as written, give or take the admin prefix — if exactly one is,
        and no admin name the text gives contradicts it."""
        district, street, body = self._raw_split(text)
        if not body:
            return None
        found: list[int] = []
        base = len(self.records)
        for i in self._texts.get(hash(body)):
            if not self._text_of(i).endswith(body):
                continue  # a hash collision (an equal hash and an equal tail: the same body)
            p = self._parsed[i if i < base else self._child_parent[i - base]]
            if (district and p.district and district != p.district) or (
                street and p.street and street != p.street
            ):
                continue
            found.append(i)
        if len(found) != 1:
            return None
        i = found[0]
        level = self._level_of(self._parsed[i]) if i < base else "room"
        return self._candidate(i, 1.0, level, "exact text")

    def _text_of(self, i: int) -> str:
        base = len(self.records)
        return self.records[i].text if i < base else self._child_text[i - base]

    def _children_with(self, parent: int, unit: str | None, room: str) -> list[int]:
        """Ids of `parent`'s children with this room (and unit, when given)."""
        base = len(self.records)
        found: list[int] = []
        for child in self._rooms.get(hash((parent, f"{unit}|{room}" if unit else room))):
            # The hash covers parent, unit and room; the parent is checked against a collision.
            if self._child_parent[child] == parent:
                found.append(base + child)
        return found

    def _record(self, i: int) -> StdRecord:
        """The record with id `i`: a top-level record, or a child rebuilt from its columns."""
        base = len(self.records)
        if i < base:
            return self.records[i]
        j = i - base
        unit, room = self._child_room[j].split("\x1f")
        floor = self._child_floor[j]
        given = self._child_given[j]
        return StdRecord(
            code=self._child_code[j],
            text=self._child_text[j],
            unit=unit if given & 1 else None,
            floor=None if floor < 0 else floor,
            room=room if given & 2 else None,
            parent=self.records[self._child_parent[j]].code,
        )

    @staticmethod
    def _room_key(r: StdRecord, parent_norm: str) -> tuple[str, str] | None:
        """(unit, room) of a child, from its components or else from its text after the parent's."""
        if r.room:
            room = _canon_value(_ROOM_WORD_RE.sub("", normalize(r.room)))
            unit = _canon_value(_UNIT_WORD_RE.sub("", normalize(r.unit))) if r.unit else ""
            return (unit, room) if room else None
        norm = normalize(r.text)
        if not norm.startswith(parent_norm):
            return None
        m = _REST_RE.match(norm[len(parent_norm) :])
        if m is None or not m.group("room"):
            return None
        return _canon_value(m.group("unit") or ""), _canon_value(m.group("room"))

    # --- parsing ---------------------------------------------------------------------------------

    @staticmethod
    def _add_components(r: StdRecord) -> list[tuple[str, str]]:
        extra: list[tuple[str, str]] = []
        for kind, value in (
            ("number", r.house_number),
            ("building", r.building),
            ("unit", r.unit),
            ("floor", None if r.floor is None else str(r.floor)),
            ("room", r.room),
        ):
            if value:
                v = normalize(value)
                v = re.sub(r"(号|栋|座|单元|层)$", "", v)
                extra.append((kind, _canon_value(v)))
        return extra

    def _split_admin(self, norm: str) -> tuple[str | None, str | None, str | None, str]:
        """District, street and community written at the head of a normalised text, and the rest."""
        s = _ORDINAL_NAME_RE.sub(lambda m: _CN_DIGIT[int(m.group(1))], norm) if "第" in norm else norm
        s = _ADMIN_HEAD_RE.sub("", s, count=1)
        if s.startswith("深圳") and not s.startswith("深圳湾"):
            s = s[2:]  # "深圳龙华街道…": the city without 市
        district = street = community = None
        m = _DISTRICT_RE.match(s)
        if m and (
            m.group(1) in _SZ_DISTRICTS or (m.group(1)[:-1] not in self._streets and len(m.group(1)) == 3)
        ):
            district = m.group(1)
            s = s[m.end() :]
        elif s[:2] in _SZ_DISTRICT_HEADS:
            # A known district before a number or a Latin name ("南山区6号花园", "南山区TCL国际E城").
            district = next((d for d in _SZ_DISTRICTS if s.startswith(d)), None)
            if district is not None:
                s = s[len(district) :]
        m = _STREET_RE.match(s)
        if m:
            street = m.group(1)
            s = s[m.end() :]
        m = _COMMUNITY_RE.match(s)
        if m:
            community = m.group(1)
            s = s[m.end() :]
        return district, street, community, s

    def _parse(self, norm: str, extra: Sequence[tuple[str, str]] = (), is_library: bool = False) -> _Parsed:
        district, street, community, s = self._split_admin(norm)
        bare_street: str | None = None
        if street is None and not is_library:
            # A bare street or community name ("宝安区西乡鸣乐街", "布心水围村"): kept as an alternative name
            # because it may also start a road or estate name (西乡大道), and the name comparison takes the
            # better of the two. Not when it starts a road ("翠竹北路").
            starts_road = _ROAD_RE.match(s)
            for width in (2, 3):
                head = s[:width]
                if (head in self._streets or head in self._communities) and len(s) > width + 1:
                    if starts_road is None or starts_road.end() > width + 3:
                        bare_street = head
                    break
        glued: list[str] = []
        if "单元" in s:
            m2 = _GLUED_UNIT_RE.search(s)
            if m2:
                digit = str(_CN_DIGIT.index(m2.group(2)))
                s = s[: m2.start()] + m2.group(1) + digit + s[m2.start(2) + 1 :]
                glued.append(digit)
        tokens: list[tuple[str, str]] = []
        pieces: list[str] = []
        pos = 0
        for tm in _TOKEN_RE.finditer(s):
            v, u = tm.group("v"), tm.group("u")
            if u is None and (tm.end() < len(s) and "\u4e00" <= s[tm.end()] <= "\u9fff") and "-" not in v:
                # A number that starts a name (107国道, 228工业区, 2号线): part of the name, but still a
                # number to agree on.
                tokens.append(("bare", _canon_value(v)))
                continue
            if u is not None:
                kind = _KIND_OF_UNIT[u]
                tokens.append((kind, _canon_value(v, typed=True)))
                if kind in _NAME_KINDS:
                    continue
            elif _FLOOR_F_RE.match(v):
                tokens.append(("floor", _canon_value(v[:-1])))
            else:
                tokens.append(("bare", _canon_value(v)))
            pieces.append(s[pos : tm.start()])
            pos = tm.end()
        pieces.append(s[pos:])
        name = self._drop_inner_admin("".join(pieces).replace("、", ""))
        alt = name[len(bare_street) :] if bare_street and name.startswith(bare_street) else None
        by_kind: dict[str, list[str]] = {}
        if is_library and len(tokens) != len(set(tokens)):
            tokens = list(dict.fromkeys(tokens))  # "A栋、A栋": a value written twice is one component
        for kind, v in tokens:
            by_kind.setdefault(kind, []).append(v)
        for kind, v in extra:
            if v not in by_kind.get(kind, ()):
                by_kind.setdefault(kind, []).append(v)
                tokens.append((kind, v))
        if glued and not is_library and "unit" in by_kind:
            by_kind["unit"] = glued + by_kind["unit"]  # the glued value last: it is the library's writing
        rm = _ROAD_RE.search(name)
        road = rm.group() if rm else None
        if road is not None and alt is None and is_library and len(name) > len(road):
            alt = name.replace(road, "", 1)
        core = _ESTATE_SUFFIX_RE.sub("", name)
        alt_core = None if alt is None else _ESTATE_SUFFIX_RE.sub("", alt)
        return _Parsed(norm, district, street, community, name, alt, tokens, by_kind, road, core, alt_core)

    def _drop_inner_admin(self, name: str) -> str:
        if "社区" not in name and "街道" not in name:
            return name
        for m in reversed(list(_INNER_ADMIN_RE.finditer(name))):
            known = self._communities if m.group() == "社区" else self._streets
            for width in (2, 3, 4):
                a = m.start() - width
                if a >= 0 and name[a : m.start()] in known:
                    name = name[:a] + name[m.end() :]
                    break
        return name

    # --- candidate index -------------------------------------------------------------------------

    def _build_index(self, norms: Sequence[str]) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for i, n in enumerate(norms):
            # dict.fromkeys, not set: a set's order follows the process's hash seed, and so would the order
            # of the float sums below (a last-bit difference reorders equal candidates from run to run).
            for g in dict.fromkeys(_bigrams(n)):
                gid = vocab.setdefault(g, len(vocab))
                rows.append(i)
                cols.append(gid)
        n_docs = max(len(norms), 1)
        r = np.asarray(rows, dtype=np.int32)
        c = np.asarray(cols, dtype=np.int32)
        df = np.bincount(c, minlength=len(vocab)).astype(np.float64)
        idf = np.log((1 + n_docs) / (1 + df)) + 1.0
        # Cosine with binary tf: the library side is normalised by its own length, the query side's norm
        # does not change the ranking.
        norm_d = np.sqrt(np.bincount(r, weights=idf[c] ** 2, minlength=len(norms)))
        norm_d[norm_d == 0] = 1.0
        order = np.argsort(c, kind="stable")
        self._post_docs: npt.NDArray[np.int32] = r[order]
        self._post_ptr: npt.NDArray[np.int64] = np.concatenate(
            ([0], np.cumsum(np.bincount(c, minlength=len(vocab))))
        )
        self._vocab = vocab
        self._idf2: npt.NDArray[np.float64] = idf**2
        self._df = df
        self._inv_norm: npt.NDArray[np.float64] = 1.0 / norm_d
        self._max_df = max(50.0, MAX_DF_SHARE * n_docs)
        self._acc: npt.NDArray[np.float64] = np.zeros(len(norms), dtype=np.float64)
        self._owner: npt.NDArray[np.int64] = np.zeros(len(norms), dtype=np.int64)

    def _candidates(self, norm: str, k: int) -> npt.NDArray[np.int64]:
        # In text order (not a set's hash order): the scores are sums taken in this order, and equal
        # candidates leave the top-k cut in an order that follows them (see `_match_norm`).
        gids = [self._vocab[g] for g in dict.fromkeys(_bigrams(norm)) if g in self._vocab]
        if not gids:
            return np.empty(0, dtype=np.int64)
        keep = [g for g in gids if self._df[g] <= self._max_df] or gids
        ptr = self._post_ptr
        parts = [self._post_docs[ptr[g] : ptr[g + 1]] for g in keep]
        docs = np.concatenate(parts)
        weights = np.repeat(self._idf2[keep], [len(p) for p in parts])
        acc = self._acc
        np.add.at(acc, docs, weights)
        # Distinct touched records without a sort: every posting writes its position into `owner`, the
        # last write for a record wins, and exactly one posting per record reads its own position back.
        pos = np.arange(len(docs))
        owner = self._owner
        owner[docs] = pos
        touched = docs[owner[docs] == pos]
        scores = acc[touched] * self._inv_norm[touched]
        acc[docs] = 0.0  # reset only what was touched: the accumulator is reused by the next query
        top = np.argpartition(-scores, k - 1)[:k] if len(touched) > k else np.arange(len(touched))
        top = top[np.argsort(-scores[top], kind="stable")]
        out: npt.NDArray[np.int64] = touched[top].astype(np.int64)
        return out

    # --- exact path ------------------------------------------------------------------------------

    def _build_keys(self) -> None:
        """Keys of the exact path: each top-level record's body (its normalised text after the admin
        prefix), and the forms people write it in — without the road and number, without the estate
        name, without 村 before a numbered lane, 座 for 栋, and the building without its unit word for
        "10-601". A key two records share is ambiguous (-1): those queries go to the full matcher, which
        weighs the admin names."""
        exact: dict[str, int] = {}
        variant: dict[str, int] = {}
        short: dict[str, int] = {}

        def put(table: dict[str, int], key: str, i: int) -> None:
            if len(key) >= 2:
                old = table.setdefault(key, i)
                if old != i:
                    table[key] = -1

        for i, p in enumerate(self._parsed):
            if "、" in p.norm:
                continue  # building lists: the full matcher reads them
            body = self._split_admin(p.norm)[3]
            put(exact, body, i)
            forms = [body]
            m = _ROAD_NUMBER_RE.match(body)
            if m and m.end() < len(body):
                site = body[m.end() :]
                forms.append(site)  # "南粤山庄10栋" for "向南路49号南粤山庄10栋"
                label = _LABEL_TAIL_RE.search(site)
                if label is not None and label.start() > 0:
                    forms.append(body[: m.end()] + label.group())  # "向南路49号10栋"
            forms += [v for f in forms if (v := _VILLAGE_WORD_RE.sub("", f)) != f]
            for form in forms:
                if form is not body:
                    put(variant, form, i)
                if _LABEL_TAIL_RE.search(form):
                    put(short, form[:-1], i)
                    if form.endswith("栋"):
                        put(variant, form[:-1] + "座", i)
        for key, i in exact.items():
            variant[key] = i  # a record written exactly so wins over another's variant
        self._keys = variant
        self._short = short
        ends = "".join(sorted({re.escape(k[-1]) for k in variant}))
        self._cut_re = re.compile(f"(?<=[{ends}])|(?=[-#])" if ends else "(?=[-#])")

    def _exact(self, norm: str) -> Candidate | None:
        """The answer when the text is a library record's key plus at most a unit/floor/room that the
        record's children hold, with no admin name contradicting it; else None (→ the full matcher).
        Such an answer is the one the full matcher gives (tested), at a fraction of its cost."""
        found = self._exact_id(norm)
        if found is None:
            return None
        i, reason = found
        level = self._level_of(self._parsed[i]) if i < len(self.records) else "room"
        return self._candidate(i, 1.0, level, reason)

    def _exact_id(self, norm: str) -> tuple[int, str] | None:
        """(record id, reason) for `_exact`."""
        if "、" in norm:
            return None
        district, street, community, body = self._split_admin(norm)
        keys, short = self._keys, self._short
        n = len(body)
        # Only where a key can end: after a character some key ends with, or before "-"/"#" (shorthand);
        # the regex finds those places in C, longest prefix first.
        for end in reversed([m.start() for m in self._cut_re.finditer(body, 2)]):
            prefix = body[:end]
            idx = keys.get(prefix)
            if idx is None and end < n and body[end] in "-#":
                idx = short.get(prefix)
            if idx is None:
                continue
            rest = body[end:]
            if idx < 0 or (rest and rest[0] in _ALNUM and prefix[-1] in _ALNUM):
                return None
            m = _REST_RE.match(rest)
            if m is None:
                return None
            p = self._parsed[idx]
            if (
                (district and p.district and district != p.district)
                or (street and p.street and street != p.street)
                or (community and p.community and community != p.community)
            ):
                return None
            unit, floor, room = m.group("unit"), m.group("floor"), m.group("room")
            if not room:
                if unit or floor:
                    return None
                return idx, f"exact: {prefix}"
            if not self._has_children[idx]:
                return None
            room = _canon_value(room)
            children = self._children_with(idx, _canon_value(unit) if unit else None, room)
            if len(children) != 1:
                return None  # not there, or in several units: the full matcher weighs them
            child_floor = self._child_floor[children[0] - len(self.records)]
            if floor and child_floor >= 0 and int(floor) != child_floor:
                return None
            return children[0], f"exact: {prefix}" + (f"; unit {unit} =" if unit else "") + f"; room {room} ="
        return None

    def _candidate(self, i: int, score: float, level: str, reason: str) -> Candidate:
        base = len(self.records)
        if i < base:
            r = self.records[i]
            return Candidate(r.code, r.text, score, level, reason, r.parent)
        j = i - base
        parent = self.records[self._child_parent[j]].code
        return Candidate(self._child_code[j], self._child_text[j], score, level, reason, parent)

    # --- one-character typos ---------------------------------------------------------------------

    def _build_names(self) -> None:
        """The names of the library (roads, estates, villages: runs of Chinese characters between its
        numbers) and, for each, its forms with one character unknown: "世界花园海?居" → 世界花园海华居.
        A form two names share is ambiguous and corrects nothing."""
        names: set[str] = set()
        for p in self._parsed:
            body = self._split_admin(p.norm)[3]
            names.update(
                run for m in _NAME_RUN_RE.finditer(body) if len(run := m.group().lstrip(_UNIT_HEADS)) >= 3
            )
        wildcards: dict[str, str] = {}
        for name in names:
            for i in range(len(name)):
                form = f"{name[:i]}?{name[i + 1 :]}"
                if wildcards.setdefault(form, name) != name:
                    wildcards[form] = ""
        self._names = names
        self._wildcards = wildcards

    def _corrected(self, norm: str) -> Candidate | None:
        """A text with a one-character slip in a name ("世界花园海化居1栋2301"): the library name it must be,
        when only one fits, and the exact path on the corrected text — scored on the text as written (so a
        slip costs what the full matcher says it costs), and only taken when that score is at least in the
        review band; else None (→ the full matcher)."""
        fixed = norm
        fixes: list[str] = []
        for m in _NAME_RUN_RE.finditer(self._split_admin(norm)[3]):
            run = m.group().lstrip(_UNIT_HEADS)
            if len(run) < 3 or run in self._names:
                continue
            fits = {self._wildcards.get(f"{run[:i]}?{run[i + 1 :]}") for i in range(len(run))} - {None, ""}
            if len(fits) == 1:
                name = fits.pop()
                assert name is not None
                fixed = fixed.replace(run, name, 1)
                fixes.append(f"{run}→{name}")
        if not fixes:
            return None
        found = self._exact_id(fixed)
        if found is None:
            return None
        i = found[0]
        parsed = self._parsed[i] if i < len(self.records) else self._parsed_child(i)
        score, _agreed, level, reason = self._score(self._parse(norm), parsed)
        if score < REVIEW_BAND[0]:
            return None
        return self._candidate(i, round(score, 4), level, f"read {', '.join(fixes)}; {reason}")

    @staticmethod
    def _level_of(p: _Parsed) -> str:
        kinds = p.by_kind
        if "room" in kinds:
            return "room"
        if "building" in kinds or "block" in kinds or "unit" in kinds:
            return "building"
        if "number" in kinds:
            return "number"
        return "road" if p.road is not None and p.road == p.name else "estate"

    def _children_for(self, q: _Parsed, parents: Sequence[int]) -> list[int]:
        """Children of `parents` whose room is one of the query's numbers (10-601 read as 10 and 601)."""
        values: dict[str, None] = {}  # ordered (a set's order changes with the hash seed)
        for _kind, v in q.tokens:
            values[v] = None
            if "-" in v:
                values.update(dict.fromkeys(v.split("-")))
        found: list[int] = []
        for parent in parents:
            if self._has_children[parent]:
                for v in values:
                    found.extend(self._children_with(parent, None, v))
        return found

    def _parsed_child(self, i: int) -> _Parsed:
        parsed = self._child_parsed.get(i)
        if parsed is None:
            if len(self._child_parsed) > 50_000:
                self._child_parsed.clear()  # a bounded cache: children are parsed only when reached
            r = self._record(i)
            parsed = self._parse(normalize(r.text), self._add_components(r), is_library=True)
            self._child_parsed[i] = parsed
        return parsed

    # --- scoring ---------------------------------------------------------------------------------

    @staticmethod
    def _similarity(qn: str, cn: str) -> float:
        if not cn:
            # A library text that is only numbers after its admin prefix ("石岩街道3区40号"): the numbers
            # decide; a query that names something the record does not costs a little.
            return 1.0 if not qn else 0.6
        if not qn:
            return 0.5
        ratio = Indel.normalized_similarity(qn, cn)
        # Share of the candidate's name the query covers in order (LCS / len), damped when the query
        # has much else besides; catches "龙丽园北" for "龙丽园北座" and a dropped estate prefix.
        lcs = (len(qn) + len(cn) - Indel.distance(qn, cn)) / 2
        cover = 0.9 * lcs / len(cn) * min(1.0, lcs / len(qn) + 0.35)
        return max(ratio, cover)

    def _name_similarity(self, q: _Parsed, c: _Parsed) -> float:
        best = 0.0
        for qn in (q.name, q.alt_name):
            if qn is None:
                continue
            best = max(best, self._similarity(qn, c.name))
            if c.alt_name is not None and best < 1.0:
                best = max(best, ROAD_OMITTED * self._similarity(qn, c.alt_name))
        if best < 1.0 and (q.core != q.name or c.core != c.name):
            best = max(best, ESTATE_SUFFIX * self._similarity(q.core, c.core))
            if c.alt_core is not None and best < ESTATE_SUFFIX:
                best = max(best, ESTATE_SUFFIX * ROAD_OMITTED * self._similarity(q.core, c.alt_core))
        if best < SITE_OMITTED and c.road is not None and c.road != c.name:
            # The estate left out, the road and number kept ("前海路58号1栋" for "前海路58号大磡安居苑1栋"):
            # the road alone is compared; the numbers decide between the road's places.
            for qn in (q.name, q.alt_name):
                if qn:
                    best = max(best, SITE_OMITTED * self._similarity(qn, c.road))
        return best

    @staticmethod
    def _find(kind: str, v: str, q: _Parsed, c: _Parsed) -> tuple[str, str | None, float]:
        """How the query stands on the candidate's component (kind, v): agree | near | conflict | missing,
        the query value it was compared with, and the factor it costs."""
        same = q.by_kind.get(kind)
        if (
            same is None
            and kind in ("building", "block")
            and not c.by_kind.get("block" if kind == "building" else "building")
        ):
            # "A栋" for "A座" (or the other way round) when each side writes only one of them.
            same = q.by_kind.get("block" if kind == "building" else "building")
        if same is not None:
            if v in same:
                # The last value of a kind is the one meant; earlier ones are a list ("9栋、11栋11栋").
                if kind == "bare" or v == same[-1] or same[-1] in c.by_kind.get(kind, ()):
                    return "agree", v, 1.0
                return "agree", v, LISTED
            for qv in same:
                # "B180栋" for "B区180栋": the query glued the zone letter to the building number.
                head = qv[: -len(v)]
                if qv.endswith(v) and head.isalpha() and any(head in vs for vs in c.by_kind.values()):
                    return "agree", qv, 1.0
        for qv in q.by_kind.get("bare", ()):
            if qv == v:
                return "agree", qv, 1.0
            if "-" in qv:
                parts = qv.split("-")
                # 10-601 / A-5E: the first part is the building (or the house number), the rest the room.
                if kind in ("building", "block", "number") and parts[0] == v:
                    return "agree", qv, 1.0
                if kind == "unit" and len(parts) >= 3 and parts[1] == v:
                    return "agree", qv, 1.0  # 41-1-6D: building 41, unit 1, flat 6D
                if (kind == "bare" and v in parts) or (kind == "room" and v in parts[1:]):
                    return "agree", qv, 1.0
            if kind == "number" and qv.isdigit() and v.isdigit() and qv.startswith(v) and qv[len(v)] != "0":
                # joined house number + room: 15103 = 15号 103 (see normalize.split_joined_number)
                rest = len(qv) - len(v)
                if rest == 3:
                    return "agree", qv, JOINED_3
                if rest == 4:
                    return "agree", qv, JOINED_4
            if (
                kind in ("building", "block")
                and v.isdigit()
                and qv.startswith(v)
                and qv[len(v) : len(v) + 1].isalpha()
            ):
                return "agree", qv, JOINED_4  # "9A0402": building 9, then the flat
        if kind == "bare":
            for vs in q.by_kind.values():
                if v in vs:
                    return "agree", v, 1.0
        if same is None or kind == "bare":
            for other in _CROSS.get(kind, ()):
                if v in q.by_kind.get(other, ()) and other not in c.by_kind:
                    return "agree", v, CROSS_KIND
            if kind == "floor":
                return "missing", None, 1.0  # a room names its floor: people rarely write both
            return "missing", None, UNTYPED_MISSING if kind == "bare" else MISSING
        # The query has values of this kind; the candidate's other values of the kind may account for
        # them ("兴业路2022号马鞍山小区31号" for "马鞍山小区31号"): then this one is only missing.
        mine = c.by_kind.get(kind, ())
        unexplained = [qv for qv in same if qv not in mine]
        if not unexplained:
            return "missing", None, MISSING
        for qv in unexplained:
            if len(qv) >= 2 and len(v) >= 2 and (v.endswith(qv) or qv.endswith(v)):
                return "near", qv, NEAR
        return "conflict", unexplained[0], CONFLICT

    def _score(self, q: _Parsed, c: _Parsed, name_sim: float | None = None) -> tuple[float, int, str, str]:
        factor = 1.0
        agreed = 0
        reasons: list[str] = []
        agreed_levels: set[str] = set()
        conflict_levels: set[str] = set()
        used: set[tuple[str, str]] = set()
        for kind, v in c.tokens:
            status, qv, f = self._find(kind, v, q, c)
            factor *= f
            label = _LABEL.get(kind, kind)
            if status == "agree":
                agreed += 1
                if qv is not None:
                    used.add(("", qv))
                reasons.append(f"{label} {v} =")
                if kind in _LEVEL_OF_KIND:
                    agreed_levels.add(_LEVEL_OF_KIND[kind])
            elif status == "near":
                reasons.append(f"{label} {qv} ≈ {v}")
            elif status == "conflict":
                reasons.append(f"{label} {qv} ≠ {v}")
                conflict_levels.add(_LEVEL_OF_KIND.get(kind, "number"))
            else:
                reasons.append(f"{label} {v} not in query")
        c_kinds = c.by_kind.keys()
        for kind, vs in q.by_kind.items():
            if kind in _FINE_KINDS or kind in c_kinds or all(("", x) in used for x in vs):
                continue
            if (
                kind in ("building", "block")
                and ("building" in c_kinds or "block" in c_kinds)
                and not ("building" in q.by_kind and "block" in q.by_kind)
            ):
                continue
            factor *= EXTRA_COARSE
            reasons.append(f"{_LABEL.get(kind, kind)} {vs[0]} only in query")
        if name_sim is None:
            name_sim = self._name_similarity(q, c)
        admin_ok: list[str] = []
        for label, qa, ca in (
            ("district", q.district, c.district),
            ("street", q.street, c.street),
            ("community", q.community, c.community),
        ):
            if qa and ca:
                if qa == ca:
                    admin_ok.append(label)
                else:
                    factor *= ADMIN_CONFLICT
                    reasons.append(f"{label} {qa} ≠ {ca}")
            elif qa:
                factor *= ADMIN_MISSING
        score = max(0.0, min(1.0, name_sim * factor))
        # Level: the finest agreed number level with no conflict at it or at a coarser number level (a
        # different building of the right house number agrees at "number", not at "room").
        level = "none"
        name_ok = name_sim >= 0.75
        numeric = ("room", "building", "number")
        if name_ok:
            for i, lv in enumerate(numeric):
                if lv in agreed_levels and not conflict_levels.intersection(numeric[i:]):
                    level = lv
                    break
            if level == "none":
                level = "road" if c.road is not None and c.road in q.norm else "estate"
        elif "community" in admin_ok:
            level = "community"
        elif "street" in admin_ok:
            level = "street"
        if c.road and name_ok:
            reasons.insert(0, f"road {c.road} =" if c.road in q.norm else f"road {c.road} not in query")
        reasons.insert(0, f"name {name_sim:.2f}")
        if admin_ok:
            reasons.append(" ".join(admin_ok) + " =")
        return score, agreed, level, "; ".join(reasons)

    # --- public ----------------------------------------------------------------------------------

    def match(self, text: str, k: int = 5) -> list[Candidate]:
        """The best `k` standard addresses for `text`, best first (empty when nothing shares a bigram)."""
        norm = normalize(text)
        if not norm:
            return []
        return self._match_norm(text, norm, k)

    def _match_norm(self, text: str, norm: str, k: int) -> list[Candidate]:
        listed = _read_list(text)
        q = self._parse(norm if listed == text else normalize(listed))
        # Every factor of a score is ≤ 1, so a score is at most its name similarity: candidates are scored
        # in order of name similarity, and once that falls below the k-th best score so far the rest can
        # neither win nor tie (branch and bound: the same answer as scoring them all, at a fraction of
        # the cost). Siblings share a name: its similarity is computed once.
        names: dict[tuple[str, str | None, str | None], float] = {}
        ordered: list[tuple[float, int]] = []
        for i in self._candidates(norm, TOP_K).tolist():
            c = self._parsed[i]
            key = (c.name, c.alt_name, c.road)
            sim = names.get(key)
            if sim is None:
                sim = names[key] = self._name_similarity(q, c)
            ordered.append((sim, i))
        ordered.sort(key=lambda t: -t[0])
        scored: list[tuple[float, int, int, str, str]] = []
        best: list[float] = []  # the k best scores so far, a min-heap
        for sim, i in ordered:
            if len(best) >= k and sim < best[0]:
                break
            s, agreed, level, reason = self._score(q, self._parsed[i], sim)
            scored.append((s, agreed, i, level, reason))
            if len(best) < k:
                heapq.heappush(best, s)
            elif s > best[0]:
                heapq.heapreplace(best, s)
        if len(self._child_parent) and scored:
            # The children (dwellings) of the best parents whose room the query names compete too.
            scored.sort(key=lambda t: -t[0])
            parents = [t[2] for t in scored[:PARENTS_EXPANDED] if t[0] >= REVIEW_BAND[0]]
            for i in self._children_for(q, parents):
                s, agreed, level, reason = self._score(q, self._parsed_child(i))
                scored.append((s, agreed, i, level, reason))
        # Equal scores: more components agreed first, then the closer whole text (it keeps what the
        # comparison set aside: "004号" against "4号", an admin name written the same way), then the lower
        # code — equivalent records ("桃源居六区" and "桃源居6区") tie on everything else, and the same input
        # must give the same answer in every run, whatever order retrieval found them in.
        scored.sort(
            key=lambda t: (
                -t[0],
                -t[1],
                -Indel.normalized_similarity(q.norm, self._norm_of(t[2])),
                self._code_of(t[2]),
            )
        )
        out: list[Candidate] = []
        for s, _, i, level, reason in scored[:k]:
            r = self._record(i)
            out.append(Candidate(r.code, r.text, round(s, 4), level, reason, r.parent))
        return out

    def _code_of(self, i: int) -> str:
        base = len(self.records)
        return self.records[i].code if i < base else self._child_code[i - base]

    def _norm_of(self, i: int) -> str:
        return self._parsed[i].norm if i < len(self._parsed) else self._parsed_child(i).norm

    def best(self, text: str) -> Candidate | None:
        """The best standard address for `text`: the exact path when it answers, else the full matcher."""
        hit = self._verbatim(text)
        if hit is not None:
            return hit
        norm = normalize(text)
        if not norm:
            return None
        if text == _read_list(text):
            hit = self._exact(norm) or self._corrected(norm)
            if hit is not None:
                return hit
        found = self._match_norm(text, norm, 1)
        return found[0] if found else None
