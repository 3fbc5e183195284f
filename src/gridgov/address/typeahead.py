"""Type-ahead address search: an in-memory character n-gram index over the standard address library.

`GET /api/addresses/search?q=…` must answer in ≤ 50 ms (p95) over the full Nanshan library (~52,500
buildings + ~1,050,000 dwellings); ``text LIKE '%q%'`` scans every row. This index answers from memory,
whatever the database:

**Semantics.** Both the library texts and the query go through `normalize` (full-width digits, Chinese
numerals before unit words — "十栋" finds "10栋" —, spaces, brackets, 楼/幢 → 栋 …). A hit is an address
whose normalised text (or the normalised text of one of its aliases) *contains* the normalised query as a
substring, like LIKE, so users can predict it. Hits come in rank order: buildings, then free-text library
lines, then dwellings (`LEVEL_RANK`), then shorter text first, then code. A query ending in a Chinese
numeral that `normalize` leaves alone because the unit word is not typed yet ("涌下村二十七", on its way to
"二十七巷" = "27巷") also matches with that numeral in digits. When fewer than ``limit`` addresses
match, the rest is filled, always after every exact hit, first with *loose* hits — the query starts with
admin names written short or skips one ("南山区向南路", "南山沙河文心二路"): the names (learned from the
library) and the rest must each be in the text — then with *fuzzy* hits:
texts holding every character bigram of each part of the query, parts being split where
digits meet other characters or at separators — "南粤山庄10-601" finds "南粤山庄10栋601" (only for a query
of two parts or more, one of them two characters long or more).

**Layout.** Documents (one per address, one per alias) are sorted by rank, so a smaller document number is
a better hit. The normalised texts are one string (``\\0`` between documents) with an offsets array; for
every character unigram and bigram there is a posting — the sorted int32 numbers of the documents that
contain it — all in one array. Grams held by more than ``stop_fraction`` of the documents (深圳, 南山, 街道 …)
keep no posting: they filter nothing, and the substring check on the text answers for them.

**Query.** The rarest gram's posting drives, read lazily in growing chunks (so the first hits cost one
small chunk); each chunk is cut to the caller's scope, then to the documents present in the other grams'
postings (binary search), then checked for the substring on the text, until ``limit`` addresses are found.
A query made only of common grams scans the text string with ``str.find`` instead (in C, in rank order).

**Scope.** ``visible(area_code)`` is asked once per area a query meets (``area`` = grid, else community,
else street code; None for lines outside the hierarchy), never once per address. When the driving posting
is long and the scope is narrow (a grid worker's one grid), reading the posting would mostly meet other
areas' documents, so after the first chunks the search switches to the documents of the visible areas
(one slice per area, kept in rank order) when those are fewer than what is left of the posting.

**Freshness** (`typeahead_ids`, what ``service.search`` and so ``GET /api/addresses/search`` use). Every
call reads `library_version` — three indexed ``max()`` lookups (newest address id, newest name id,
newest change number ``revision``), ~0.1 ms on 1.1M rows — and compares it with the version the *base*
index was built at. Equal: the base answers. Different: the rows changed since (id above the base's
newest id, revision above its newest revision, or a name newer than its newest name: three indexed range
reads) make the *overlay*, a small index of their current texts and names, built in milliseconds and kept
until the next change; the base answers with those ids excluded (its texts for them may be stale, or
retired), the overlay answers for them, and both lists, each in rank order, merge by rank key (tier,
level, length, code). So a just-created, edited, renamed or retired address shows at once, also in the
session that made the change before it commits, and no admin edit waits for a rebuild.

The base is rebuilt only to fold a large overlay (more than `FOLD_AT` rows) or after a large import
(more than `OVERLAY_MAX` changed rows). It is built from committed data in a session of its own. For a
large library (highest id ≥ `BACKGROUND_FROM`, ~20 s to build at 1.1M rows) it is built in a daemon
thread — also at application startup (`warm_up`, from the app's lifespan) — and until the first base is
in, or while a large import is folded, requests get the caller's fallback (``service.search``: the
LIKE query, ~250 ms) instead of waiting; a large overlay keeps answering while it is folded. A small
library (the tests') is built synchronously on the first search, in well under a second. The old base
and the new one are both in memory while a new one is built. Limits: two transactions committing out of
order (a lower id, or the same change number, committed after the version was read) can go unseen
until the next change.

Memory and speed on the full library are measured by ``bench/typeahead.py``; the README quotes them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.address.models import AddressAlias, StdAddress
from gridgov.address.normalize import normalize
from gridgov.address.numerals import cn_to_digits

__all__ = [
    "LEVEL_RANK",
    "LibraryVersion",
    "TypeaheadHit",
    "TypeaheadIndex",
    "TypeaheadRow",
    "library_version",
    "load_typeahead",
    "search_addresses",
    "typeahead_ids",
    "wait_for_index",
    "warm_up",
]

log = logging.getLogger(__name__)

#: Rank of a level: lower comes first. A free-text library line ("text") usually names a building.
LEVEL_RANK: Final[dict[str, int]] = {"building": 0, "text": 1, "dwelling": 2}
_OTHER_LEVEL_RANK: Final = 1

#: (address id, code, text, level, area code) — the area is the grid, else community, else street code.
TypeaheadRow = tuple[int, str, str, str, str | None]
Visible = Callable[[str | None], bool]

_SEPARATOR: Final = "\x00"
_FIRST_CHUNK: Final = 256
_MAX_CHUNK: Final = 65_536
# After this many driver documents without filling the page, consider switching to the scope's documents.
_SWITCH_AFTER: Final = 16_384
# Same, for the str.find scan: this many substring hits met outside the scope.
_SWITCH_AFTER_HITS: Final = 256
# Rows changed since the base index are indexed apart (the overlay) up to this many; more rebuild the base.
OVERLAY_MAX: Final = 5_000
# An overlay of more rows than this is folded into a new base (in the background for a large library).
FOLD_AT: Final = 500
# A library whose highest id reaches this is "large": its base index (~20 s at 1.1M rows) is built in a
# background thread, and requests meanwhile get the caller's fallback (service.search: the LIKE query).
BACKGROUND_FROM = 200_000
_IN_CHUNK: Final = 900
# Fuzzy parts: runs of digits/letters, or runs of other characters; separators split parts.
_PART_RE: Final = re.compile(r"[0-9A-Z]+|[^0-9A-Z \-、.#:]+")

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
#: How hits of two indexes merge: (tier: exact 0, loose 1, fuzzy 2; level rank; text length; code).
RankKey = tuple[int, int, int, bytes]
_TIERS: Final = ("exact", "loose", "fuzzy")


@dataclass(frozen=True, slots=True)
class TypeaheadHit:
    """One search result: the standard address (id and code), its level, and whether it holds the query."""

    id: int
    code: str
    level: str
    #: "exact" (holds the query), "loose" (holds its parts once the admin names it leaves out or shortens
    #: are set aside) or "fuzzy" (holds every bigram of each part); always in that order.
    match: str

    @property
    def exact(self) -> bool:
        return self.match == "exact"


def _empty_int32() -> Int32Array:
    return np.zeros(0, dtype=np.int32)


class _Scope:
    """The caller's scope for one query: ``visible`` asked lazily, once per area."""

    def __init__(self, index: TypeaheadIndex, visible: Visible) -> None:
        self.index = index
        self.visible = visible
        self.state = np.full(len(index.area_codes), -1, dtype=np.int8)  # -1 not asked, 0 no, 1 yes
        self.complete = False

    def _ask(self, areas: npt.NDArray[np.int32]) -> None:
        codes = self.index.area_codes
        for area in areas.tolist():
            self.state[area] = 1 if self.visible(codes[area]) else 0

    def keep(self, docs: Int32Array) -> Int32Array:
        areas = self.index.doc_area[docs]
        states = self.state[areas]
        unknown = states < 0
        if unknown.any():
            self._ask(np.unique(areas[unknown]))
            states = self.state[areas]
        kept: Int32Array = docs[states == 1]
        return kept

    def keeps(self, doc: int) -> bool:
        area = int(self.index.doc_area[doc])
        if self.state[area] < 0:
            self._ask(np.array([area], dtype=np.int32))
        return bool(self.state[area] == 1)

    def documents(self, after: int) -> Int32Array:
        """The visible documents numbered above ``after``, sorted (asks every area not asked yet)."""
        if not self.complete:
            self._ask(np.flatnonzero(self.state < 0).astype(np.int32))
            self.complete = True
        index = self.index
        parts = []
        for area in np.flatnonzero(self.state == 1).tolist():
            docs = index.area_docs[index.area_start[area] : index.area_start[area + 1]]
            parts.append(docs[np.searchsorted(docs, after, side="right") :])
        if not parts:
            return _empty_int32()
        merged = np.concatenate(parts)
        merged.sort()
        return merged

    def visible_count(self) -> int:
        if not self.complete:
            self.documents(-1)
        counts = np.diff(self.index.area_start)
        return int(counts[self.state == 1].sum())


class TypeaheadIndex:
    """An immutable type-ahead index over library rows; build it with `TypeaheadIndex.build`."""

    def __init__(
        self,
        *,
        text: str,
        starts: IntArray,
        ids: IntArray,
        codes: npt.NDArray[np.bytes_],
        doc_level: npt.NDArray[np.int8],
        level_names: tuple[str, ...],
        doc_area: Int32Array,
        area_codes: tuple[str | None, ...],
        chars: dict[str, int],
        gram_keys: IntArray,
        gram_starts: IntArray,
        gram_docs: Int32Array,
        stop_keys: frozenset[int],
        addresses: int,
        admin_names: dict[str, str] | None = None,
    ) -> None:
        self.text = text
        self.starts = starts
        self.ids = ids
        self.codes = codes
        self.doc_level = doc_level
        self.level_names = level_names
        self.doc_area = doc_area
        self.area_codes = area_codes
        self.chars = chars
        self.gram_keys = gram_keys
        self.gram_starts = gram_starts
        self.gram_docs = gram_docs
        self.stop_keys = stop_keys
        self.addresses = addresses
        self.admin_names = admin_names or {}  # 南山区 → 南山, 南山 → 南山, 沙河街道 → 沙河 …
        self.width = len(chars) + 1  # dense character numbers start at 1; 0 = separator / "no character"
        # Documents of each area, in rank order: area_docs[area_start[a]:area_start[a + 1]].
        self.area_docs: Int32Array = np.argsort(doc_area, kind="stable").astype(np.int32)
        counts = np.bincount(doc_area, minlength=len(area_codes))
        self.area_start: IntArray = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)

    # ---------------------------------------------------------------------------------------------------
    # Building

    @classmethod
    def build(
        cls, rows: Iterable[TypeaheadRow], *, stop_fraction: float = 0.5, stop_min_documents: int = 10_000
    ) -> TypeaheadIndex:
        """Index ``rows`` (several rows may share an id: an address and its aliases; they count once).

        A gram in more than ``stop_fraction`` of the documents keeps no posting, once there are at least
        ``stop_min_documents`` documents (below that, every posting is cheap).
        """
        ids: list[int] = []
        codes: list[str] = []
        texts: list[str] = []
        levels: list[int] = []
        ranks: list[int] = []
        areas: list[int] = []
        level_index: dict[str, int] = {}
        area_index: dict[str | None, int] = {None: 0}
        for id_, code, raw, level, area in rows:
            norm = normalize(raw).replace(_SEPARATOR, "")
            if not norm:
                continue
            ids.append(id_)
            codes.append(code)
            texts.append(norm)
            levels.append(level_index.setdefault(level, len(level_index)))
            ranks.append(LEVEL_RANK.get(level, _OTHER_LEVEL_RANK))
            areas.append(area_index.setdefault(area or None, len(area_index)))
        n = len(texts)
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
        code_array = np.array(codes, dtype=np.bytes_) if n else np.zeros(0, dtype="S1")
        del codes
        order = np.lexsort((code_array, lengths, np.array(ranks, dtype=np.int8))) if n else np.zeros(0, int)
        del ranks
        ordered = [texts[i] for i in order.tolist()]
        del texts
        text = _SEPARATOR.join(ordered)
        del ordered
        lengths = lengths[order]
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths + 1, out=starts[1:])
        stop_fraction = stop_fraction if n >= stop_min_documents else 1.0
        chars, gram_keys, gram_starts, gram_docs, stop_keys = _postings(text, lengths, stop_fraction)
        id_array = np.array(ids, dtype=np.int64)[order]
        return cls(
            text=text,
            starts=starts,
            ids=id_array,
            codes=code_array[order],
            doc_level=np.array(levels, dtype=np.int8)[order],
            level_names=tuple(level_index),
            doc_area=np.array(areas, dtype=np.int32)[order],
            area_codes=tuple(area_index),
            chars=chars,
            gram_keys=gram_keys,
            gram_starts=gram_starts,
            gram_docs=gram_docs,
            stop_keys=stop_keys,
            addresses=len(set(ids)),
            admin_names=_admin_names(text, starts),
        )

    @property
    def documents(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays and the text (Python object overhead aside)."""
        arrays = (
            self.starts,
            self.ids,
            self.codes,
            self.doc_level,
            self.doc_area,
            self.gram_keys,
            self.gram_starts,
            self.gram_docs,
            self.area_docs,
            self.area_start,
        )
        text_bytes = len(self.text) * (4 if any(ord(c) > 0xFFFF for c in self.chars) else 2)
        return sum(a.nbytes for a in arrays) + text_bytes

    # ---------------------------------------------------------------------------------------------------
    # Searching

    def search(
        self,
        query: str,
        limit: int = 20,
        visible: Visible | None = None,
        *,
        exclude: Collection[int] = (),
    ) -> list[TypeaheadHit]:
        """Addresses containing ``query`` (normalised), best first, inside ``visible``; fuzzy hits fill up.

        Addresses whose id is in ``exclude`` are never returned (an overlay holds their current texts).
        """
        return [hit for _, hit in self.ranked(query, limit, visible, exclude=exclude)]

    def ranked(
        self,
        query: str,
        limit: int = 20,
        visible: Visible | None = None,
        *,
        exclude: Collection[int] = (),
    ) -> list[tuple[RankKey, TypeaheadHit]]:
        """`search` with each hit's rank key (tier, level rank, text length, code): merge by it."""
        q = normalize(query).replace(_SEPARATOR, "")
        if not q or limit < 1 or self.documents == 0:
            return []
        excluded = frozenset(exclude)
        scope = _Scope(self, visible) if visible is not None else None
        found = self._exact(q, limit, scope, excluded)
        variant = _numeral_tail(q)
        if variant is not None:  # 涌下村二十七 while typing 涌下村二十七巷 (= 27巷 in the library)
            found = self._merge(found, self._exact(variant, limit, scope, excluded), limit)
        seen = {int(self.ids[doc]) for doc in found} | excluded
        tiers = [len(found)]
        pieces = self._admin_pieces(q)
        if len(found) < limit and pieces is not None:
            slots = self._slots([g for piece in pieces for g in _grams(piece)])
            if slots:
                self._scan_postings(slots, pieces, limit, scope, found, seen)
        tiers.append(len(found))
        parts = _PART_RE.findall(q)
        # Fuzzy needs two parts or more (one part: its bigrams are nearly the query) and a part of two
        # characters or more (single characters apart — 庄 9 栋 — match nearly anything).
        if len(found) < limit and len(parts) > 1 and max(map(len, parts)) > 1:
            fuzzy_grams = [g for part in parts for g in _grams(part)]
            fuzzy_slots = self._slots(fuzzy_grams)
            if fuzzy_slots:  # at least one selective gram; otherwise fuzzy would match nearly anything
                checks = [g for g in dict.fromkeys(fuzzy_grams) if self._key(g) in self.stop_keys]
                self._scan_postings(fuzzy_slots, checks, limit, scope, found, seen)
        ranked: list[tuple[RankKey, TypeaheadHit]] = []
        for i, doc in enumerate(found):
            tier = 0 if i < tiers[0] else 1 if i < tiers[1] else 2
            hit = self._hit(doc, _TIERS[tier])
            length = int(self.starts[doc + 1] - self.starts[doc]) - 1
            key = (tier, LEVEL_RANK.get(hit.level, _OTHER_LEVEL_RANK), length, bytes(self.codes[doc]))
            ranked.append((key, hit))
        return ranked

    def _exact(self, q: str, limit: int, scope: _Scope | None, exclude: frozenset[int]) -> list[int]:
        """The best ``limit`` documents holding ``q``, one per address, in rank order."""
        found: list[int] = []
        slots = self._slots(_grams(q))
        if slots is not None:
            if slots:
                self._scan_postings(slots, [q], limit, scope, found, set(exclude))
            else:  # only common grams: scan the text itself
                self._scan_text(q, limit, scope, found, set(exclude))
        return found

    def _merge(self, first: list[int], second: list[int], limit: int) -> list[int]:
        merged: list[int] = []
        owners: set[int] = set()
        for doc in sorted(set(first) | set(second)):
            owner = int(self.ids[doc])
            if owner not in owners:
                owners.add(owner)
                merged.append(doc)
        return merged[:limit]

    def _admin_pieces(self, q: str) -> list[str] | None:
        """南山区沙河文心二路 → [南山, 沙河, 文心二路]: the admin names it starts with, bare, then the rest.

        None when the query starts with no admin name, or is nothing else.
        """
        names = self.admin_names
        pieces: list[str] = []
        rest = q
        while rest:
            for width in range(min(8, len(rest)), 1, -1):
                bare = names.get(rest[:width])
                if bare is not None:
                    pieces.append(bare)
                    rest = rest[width:]
                    break
            else:
                break
        if not pieces or (not rest and len(pieces) < 2):
            return None
        return [*pieces, rest] if rest else pieces

    def search_ids(self, query: str, limit: int = 20, visible: Visible | None = None) -> list[int]:
        """`search` as address ids, in rank order."""
        return [hit.id for hit in self.search(query, limit, visible)]

    def _hit(self, doc: int, match: str) -> TypeaheadHit:
        return TypeaheadHit(
            id=int(self.ids[doc]),
            code=self.codes[doc].decode(),
            level=self.level_names[int(self.doc_level[doc])],
            match=match,
        )

    def _key(self, gram: str) -> int:
        """The posting key of a 1- or 2-character gram, or -1 when a character never occurs."""
        first = self.chars.get(gram[0])
        if first is None:
            return -1
        if len(gram) == 1:
            return first * self.width
        second = self.chars.get(gram[1])
        return -1 if second is None else first * self.width + second

    def _slots(self, grams: Sequence[str]) -> list[tuple[int, int]] | None:
        """(start, end) of each selective gram's posting, shortest first; None when a gram never occurs."""
        slots: set[tuple[int, int]] = set()
        for gram in grams:
            key = self._key(gram)
            if key < 0:
                return None
            if key in self.stop_keys:
                continue
            at = int(np.searchsorted(self.gram_keys, key))
            if at >= len(self.gram_keys) or self.gram_keys[at] != key:
                return None
            slots.add((int(self.gram_starts[at]), int(self.gram_starts[at + 1])))
        return sorted(slots, key=lambda s: s[1] - s[0])

    def _check(
        self, docs: Int32Array, needles: Sequence[str], found: list[int], seen: set[int], limit: int
    ) -> None:
        """Append the documents (in order) whose text holds every needle, one per address, up to ``limit``."""
        if not len(docs):
            return
        text, starts, ids = self.text, self.starts, self.ids
        begins = starts[docs].tolist()
        ends = (starts[docs + 1] - 1).tolist()
        owners = ids[docs].tolist()
        for doc, a, b, owner in zip(docs.tolist(), begins, ends, owners, strict=True):
            if owner in seen:
                continue
            if all(text.find(needle, a, b) >= 0 for needle in needles):
                seen.add(owner)
                found.append(doc)
                if len(found) >= limit:
                    return

    def _scan_postings(
        self,
        slots: list[tuple[int, int]],
        needles: Sequence[str],
        limit: int,
        scope: _Scope | None,
        found: list[int],
        seen: set[int],
    ) -> None:
        postings = [self.gram_docs[a:b] for a, b in slots]
        driver, filters = postings[0], postings[1:]
        self._drive(driver, filters, needles, limit, scope, found, seen)

    def _drive(
        self,
        driver: Int32Array,
        filters: list[Int32Array],
        needles: Sequence[str],
        limit: int,
        scope: _Scope | None,
        found: list[int],
        seen: set[int],
        *,
        switched: bool = False,
    ) -> None:
        pos, size, last = 0, _FIRST_CHUNK, -1
        considered = switched
        while pos < len(driver) and len(found) < limit:
            chunk = driver[pos : pos + size]
            pos += len(chunk)
            size = min(size * 4, _MAX_CHUNK)
            last = int(chunk[-1])
            if scope is not None and not switched:
                chunk = scope.keep(chunk)
            for posting in filters:
                if not len(chunk):
                    break
                at = np.searchsorted(posting, chunk)
                at[at == len(posting)] = 0
                chunk = chunk[posting[at] == chunk]
            self._check(chunk, needles, found, seen, limit)
            if scope is not None and not considered and pos >= _SWITCH_AFTER and len(found) < limit:
                # A long posting and a page still not full: if the scope holds fewer documents than
                # the rest of the posting, walk the scope's documents instead (the posting filters them).
                considered = True
                if scope.visible_count() < len(driver) - pos:
                    own = scope.documents(last)
                    self._drive(own, [driver, *filters], needles, limit, scope, found, seen, switched=True)
                    return

    def _scan_text(self, q: str, limit: int, scope: _Scope | None, found: list[int], seen: set[int]) -> None:
        """Substring hits in rank order by ``str.find`` over the whole text (for queries of common grams)."""
        text, starts, ids = self.text, self.starts, self.ids
        position, outside, considered = 0, 0, False
        while len(found) < limit:
            at = text.find(q, position)
            if at < 0:
                return
            doc = int(np.searchsorted(starts, at, side="right")) - 1
            position = int(starts[doc + 1])
            owner = int(ids[doc])
            if owner in seen:
                continue
            if scope is not None and not scope.keeps(doc):
                outside += 1
                if not considered and outside >= _SWITCH_AFTER_HITS:
                    considered = True
                    if scope.visible_count() < self.documents - doc:
                        self._drive(scope.documents(doc), [], [q], limit, scope, found, seen, switched=True)
                        return
                continue
            seen.add(owner)
            found.append(doc)


_NUMERAL_TAIL_RE: Final = re.compile(r"(?<![0-9])[〇零一二三四五六七八九十百千万两]+$")
_ADMIN_RE: Final = re.compile(
    r"(?:([^\x00市区]{2,3})市)?(?:([^\x00市区]{2,4}?)区)?(?:([^\x00]{2,5}?)(?:街道|镇))?(?:([^\x00]{2,6}?)社区)?"
)
_ADMIN_SUFFIXES: Final = ("市", "区", "街道", "社区")


def _numeral_tail(q: str) -> str | None:
    """``q`` with a trailing run of Chinese numerals written as digits, or None (see `normalize`, rule 6)."""
    m = _NUMERAL_TAIL_RE.search(q)
    if m is None:
        return None
    run = m.group()
    for i in range(len(run)):
        digits = cn_to_digits(run[i:])
        if digits is not None:
            return q[: m.start() + i] + digits
    return None


def _admin_names(text: str, starts: IntArray) -> dict[str, str]:
    """City, district, street and community names the library texts start with: full and bare → bare."""
    heads = {text[a : a + 24] for a in starts[:-1].tolist()}
    names: dict[str, str] = {}
    for head in heads:
        m = _ADMIN_RE.match(head)
        if m is None:
            continue
        for bare, suffix in zip(m.groups(), _ADMIN_SUFFIXES, strict=True):
            if bare:
                names[bare] = bare
                names[bare + suffix] = bare
                if suffix == "街道":
                    names[bare + "镇"] = bare
    return names


def _grams(text: str) -> list[str]:
    """The distinct bigrams of ``text``, or the text itself when it is one character."""
    if len(text) == 1:
        return [text]
    return list(dict.fromkeys(text[i : i + 2] for i in range(len(text) - 1)))


def _postings(
    text: str, lengths: IntArray, stop_fraction: float
) -> tuple[dict[str, int], IntArray, IntArray, Int32Array, frozenset[int]]:
    """Character numbering and the unigram + bigram postings of the joined ``text`` (vectorised)."""
    n = len(lengths)
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    distinct = np.unique(points)
    distinct = distinct[distinct != 0]
    chars = {chr(int(cp)): i + 1 for i, cp in enumerate(distinct.tolist())}
    width = len(chars) + 1
    dense = np.searchsorted(distinct, points).astype(np.int64) + 1
    dense[points == 0] = 0
    del points
    docs = np.repeat(np.arange(n, dtype=np.int64), lengths + 1)[: len(dense)]
    shift = max(1, int(n).bit_length())
    if (width * width) << shift >= 1 << 63:
        raise ValueError(f"too many distinct characters ({width - 1}) for the type-ahead index")
    # Unigrams, then bigrams: key << shift | doc, sorted and deduplicated, gives each posting sorted.
    unigram = dense[dense > 0] * width << shift | docs[dense > 0]
    pair = (dense[:-1] > 0) & (dense[1:] > 0)
    bigram = (dense[:-1][pair] * width + dense[1:][pair]) << shift | docs[:-1][pair]
    del dense, docs, pair
    combined = np.concatenate((unigram, bigram))
    del unigram, bigram
    combined.sort()
    if len(combined):
        keep = np.empty(len(combined), dtype=bool)
        keep[0] = True
        np.not_equal(combined[1:], combined[:-1], out=keep[1:])
        combined = combined[keep]
        del keep
    keys = combined >> shift
    gram_docs = (combined & ((1 << shift) - 1)).astype(np.int32)
    del combined
    boundaries = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else keys
    gram_keys = keys[boundaries]
    counts = np.diff(np.concatenate((boundaries, [len(keys)])))
    del keys
    stop = counts > stop_fraction * n
    stop_keys = frozenset(gram_keys[stop].tolist())
    if stop.any():  # drop the postings of common grams
        in_stop = np.repeat(stop, counts)
        gram_docs = gram_docs[~in_stop]
        gram_keys, counts = gram_keys[~stop], counts[~stop]
    gram_starts = np.zeros(len(gram_keys) + 1, dtype=np.int64)
    np.cumsum(counts, out=gram_starts[1:])
    return chars, gram_keys.astype(np.int64), gram_starts, gram_docs, stop_keys


# -------------------------------------------------------------------------------------------------------
# Loading from the database: the library version, the base index, the overlay of changed rows


class LibraryVersion(NamedTuple):
    """Changes whenever the searchable library does; three indexed ``max()`` lookups, no count.

    A new address (import, create) raises ``max_id``; every change by hand — edit, retire, a name added
    or removed — bumps the address's ``revision`` to the next library-wide number; a new name raises
    ``max_alias_id`` too. The import only inserts (codes already present are left as they are).
    """

    max_id: int
    max_alias_id: int
    revision: int


def library_version(session: Session) -> LibraryVersion:
    """The library's current `LibraryVersion` (well under a millisecond on 1.1M rows)."""
    # One scalar subquery per maximum: SQLite answers a lone max() from the index (one seek), not when
    # several aggregates share one SELECT; PostgreSQL turns each into an index scan with LIMIT 1.
    row = session.execute(
        select(
            select(func.max(StdAddress.id)).scalar_subquery(),
            select(func.max(AddressAlias.id)).scalar_subquery(),
            select(func.max(StdAddress.revision)).scalar_subquery(),
        )
    ).one()
    return LibraryVersion(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def library_rows(
    session: Session, *, aliases: bool = True, ids: Collection[int] | None = None
) -> Iterable[TypeaheadRow]:
    """The current standard addresses (of ``ids`` only, when given) and all their names as index rows.

    Every name counts, common and former (a renamed road's old name still finds the address).
    """
    area = func.coalesce(StdAddress.grid_code, StdAddress.community_code, StdAddress.street_code)
    current = StdAddress.valid_to.is_(None)
    chunks: list[list[int] | None] = [None]
    if ids is not None:
        ordered = sorted(ids)
        chunks = [ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK)]
    for chunk in chunks:
        statement = select(StdAddress.id, StdAddress.code, StdAddress.text, StdAddress.level, area).where(
            current
        )
        if chunk is not None:
            statement = statement.where(StdAddress.id.in_(chunk))
        for row in session.execute(statement).yield_per(20_000):
            yield (row[0], row[1], row[2], row[3], row[4])
    if not aliases:
        return
    for chunk in chunks:
        alias_statement = (
            select(StdAddress.id, StdAddress.code, AddressAlias.alias, StdAddress.level, area)
            .join(AddressAlias, AddressAlias.address_id == StdAddress.id)
            .where(current)
        )
        if chunk is not None:
            alias_statement = alias_statement.where(StdAddress.id.in_(chunk))
        for row in session.execute(alias_statement):
            yield (row[0], row[1], row[2], row[3], row[4])


def load_typeahead(session: Session) -> TypeaheadIndex:
    """A type-ahead index over the current library (standard addresses and their names)."""
    return TypeaheadIndex.build(library_rows(session))


def _changed_since(session: Session, since: LibraryVersion, cap: int) -> dict[int, Hashable] | None:
    """id → (revision, updated_at) of the addresses added or changed since ``since``; None when > ``cap``.

    Three indexed range reads: new ids, higher revisions, names with a higher id.
    """
    changed: dict[int, Hashable] = {}
    for where in (StdAddress.id > since.max_id, StdAddress.revision > since.revision):
        statement = select(StdAddress.id, StdAddress.revision, StdAddress.updated_at).where(where)
        for id_, revision, updated in session.execute(statement.limit(cap + 1)):
            changed[id_] = (revision, str(updated))
        if len(changed) > cap:
            return None
    named = set(
        session.scalars(
            select(AddressAlias.address_id).where(AddressAlias.id > since.max_alias_id).limit(cap + 1)
        )
    ) - set(changed)
    if named:
        statement = select(StdAddress.id, StdAddress.revision, StdAddress.updated_at)
        for id_, revision, updated in session.execute(statement.where(StdAddress.id.in_(sorted(named)))):
            changed[id_] = (revision, str(updated))
    return None if len(changed) > cap else changed


@dataclass(frozen=True)
class _Overlay:
    key: Hashable  # (version, the changed rows' ids, revisions and update times)
    index: TypeaheadIndex  # the changed rows that are still current, with their names
    changed: frozenset[int]  # every changed id, current or retired: the base must not answer for them


class _Library:
    """One database's type-ahead state: the base index and its version, the overlay, the builder."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()  # guards the fields below
        self.build_lock = threading.Lock()  # one synchronous build at a time
        self.base: TypeaheadIndex | None = None
        self.version: LibraryVersion | None = None
        self.started = -1.0  # when the installed base's build started (a newer build wins)
        self.overlay: _Overlay | None = None
        self.builder: threading.Thread | None = None
        self.builds = 0

    # Building -------------------------------------------------------------------------------------------

    def _install(self, started: float, version: LibraryVersion, index: TypeaheadIndex) -> None:
        with self.lock:
            if started > self.started:
                self.base, self.version, self.started, self.overlay = index, version, started, None
                self.builds += 1

    def _build(self, session: Session) -> None:
        started = time.monotonic()
        version = library_version(session)  # before the rows: the overlay then covers what the build missed
        index = load_typeahead(session)
        self._install(started, version, index)

    def build_now(self, session: Session) -> None:
        """Build the base now, from committed data (a session of its own) where that is possible."""
        with self.build_lock:
            if _private_session_possible(session):
                with Session(self.engine) as own:
                    self._build(own)
            else:
                self._build(session)

    def start_build(self) -> bool:
        """Build the base in a daemon thread (unless one is running); False when one already was."""
        with self.lock:
            if self.builder is not None and self.builder.is_alive():
                return False
            self.builder = threading.Thread(target=self._background, name="typeahead-build", daemon=True)
            self.builder.start()
            return True

    def _background(self) -> None:
        try:
            with self.build_lock, Session(self.engine) as own:
                self._build(own)
        except Exception:  # the next request starts another build; LIKE answers meanwhile
            log.exception("building the type-ahead index failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background build; True when none is running (any more)."""
        builder = self.builder
        if builder is not None:
            builder.join(timeout)
            return not builder.is_alive()
        return True

    def building(self) -> bool:
        builder = self.builder
        return builder is not None and builder.is_alive()

    # Reading --------------------------------------------------------------------------------------------

    def view(self, session: Session, *, wait: bool) -> tuple[TypeaheadIndex, _Overlay | None] | None:
        """The base index and the overlay of rows changed since it, as ``session`` sees the library.

        None when ``wait`` is false and the base is being built in the background (or must be).
        """
        current = library_version(session)
        rebuilt = False
        while True:
            with self.lock:
                base, version = self.base, self.version
            if base is not None and version is not None:
                if current == version:
                    return base, None
                changed = _changed_since(session, version, OVERLAY_MAX)
                if changed is not None:
                    return base, self._overlay(session, base, current, changed)
            if rebuilt:
                # Still too much missing from a fresh base: this session's own uncommitted changes (a
                # large import not committed yet). Index what it sees, without keeping that index.
                return load_typeahead(session), None
            if not self._rebuild(session, current, wait=wait):
                return None
            rebuilt = True

    def _overlay(
        self, session: Session, base: TypeaheadIndex, current: LibraryVersion, changed: dict[int, Hashable]
    ) -> _Overlay:
        key = (current, frozenset(changed.items()))
        with self.lock:
            overlay = self.overlay
        if overlay is not None and overlay.key == key:
            return overlay
        index = TypeaheadIndex.build(library_rows(session, ids=list(changed)))
        index.admin_names = {**base.admin_names, **index.admin_names}
        overlay = _Overlay(key, index, frozenset(changed))
        with self.lock:
            if self.base is base:
                self.overlay = overlay
        if len(changed) > FOLD_AT:  # fold the overlay into a new base, for the requests to come
            if _large(current):
                self.start_build()
            else:
                self.build_now(session)
        return overlay

    def _rebuild(self, session: Session, current: LibraryVersion, *, wait: bool) -> bool:
        """A new base: built in the background for a large library (False when not waiting for it)."""
        if _large(current) or self.building():
            self.start_build()
            if not wait:
                return False
            self.wait()
            return True
        self.build_now(session)
        return True


def _large(version: LibraryVersion) -> bool:
    return version.max_id >= BACKGROUND_FROM


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _private_session_possible(session: Session) -> bool:
    """Whether a session of our own sees the same database (not so for in-memory SQLite or a bound
    connection's outer transaction)."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return False
    database = bind.url.database or ""
    return not (bind.dialect.name == "sqlite" and (database in ("", ":memory:") or "mode=memory" in database))


_libraries: dict[str, _Library] = {}
_libraries_lock = threading.Lock()


def _library(engine: Engine) -> _Library:
    key = f"{engine.url.render_as_string(hide_password=True)}#{id(engine)}"
    with _libraries_lock:
        library = _libraries.get(key)
        if library is None or library.engine is not engine:
            library = _libraries[key] = _Library(engine)
        return library


def warm_up(engine: Engine) -> bool:
    """Start building the index in the background when the library is large (the app's startup);
    True when a build started. A small library is built on the first search instead (under a second)."""
    with Session(engine) as session:
        version = library_version(session)
    if not _large(version):
        return False
    return _library(engine).start_build()


def wait_for_index(engine: Engine, timeout: float | None = None) -> bool:
    """Wait for the background build of ``engine``'s index; True when no build is running any more."""
    return _library(engine).wait(timeout)


def typeahead_ids(
    session: Session, query: str, *, visible: Visible, limit: int = 20, wait: bool = True
) -> list[int] | None:
    """Ids of the current addresses matching ``query`` in rank order, as ``session`` sees the library.

    None only when ``wait`` is false and the index is being built in the background: the caller then
    answers another way (`service.search` falls back to its LIKE query).
    """
    view = _library(_engine_of(session)).view(session, wait=wait)
    if view is None:
        return None
    base, overlay = view
    if overlay is None:
        return base.search_ids(query, limit, visible)
    ranked = base.ranked(query, limit, visible, exclude=overlay.changed)
    ranked += overlay.index.ranked(query, limit, visible)
    ranked.sort(key=lambda pair: pair[0])
    return [hit.id for _, hit in ranked[:limit]]


def search_addresses(
    session: Session,
    query: str,
    *,
    visible: Visible,
    limit: int = 20,
    fallback: Callable[[], list[StdAddress]] | None = None,
) -> list[StdAddress]:
    """Type-ahead as the API wants it: the current `StdAddress` rows of the hits, in rank order.

    With a ``fallback``, a request arriving while the index is built in the background gets the
    fallback's answer instead of waiting for the build.
    """
    ids = typeahead_ids(session, query, visible=visible, limit=limit, wait=fallback is None)
    if ids is None:
        assert fallback is not None
        return fallback()
    if not ids:
        return []
    rows = session.scalars(select(StdAddress).where(StdAddress.id.in_(ids), StdAddress.valid_to.is_(None)))
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]
