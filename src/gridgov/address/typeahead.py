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

Memory and speed on the full library are measured by ``bench/typeahead.py``; the README quotes them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.address.models import AddressAlias, StdAddress
from gridgov.address.normalize import normalize
from gridgov.address.numerals import cn_to_digits

__all__ = [
    "LEVEL_RANK",
    "TypeaheadHit",
    "TypeaheadIndex",
    "TypeaheadRow",
    "cached_typeahead",
    "load_typeahead",
    "search_addresses",
    "typeahead_version",
]

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
# Fuzzy parts: runs of digits/letters, or runs of other characters; separators split parts.
_PART_RE: Final = re.compile(r"[0-9A-Z]+|[^0-9A-Z \-、.#:]+")

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]


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

    def search(self, query: str, limit: int = 20, visible: Visible | None = None) -> list[TypeaheadHit]:
        """Addresses containing ``query`` (normalised), best first, inside ``visible``; fuzzy hits fill up."""
        q = normalize(query).replace(_SEPARATOR, "")
        if not q or limit < 1 or self.documents == 0:
            return []
        scope = _Scope(self, visible) if visible is not None else None
        found = self._exact(q, limit, scope)
        variant = _numeral_tail(q)
        if variant is not None:  # 涌下村二十七 while typing 涌下村二十七巷 (= 27巷 in the library)
            found = self._merge(found, self._exact(variant, limit, scope), limit)
        seen = {int(self.ids[doc]) for doc in found}
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
        return [
            self._hit(doc, "exact" if i < tiers[0] else "loose" if i < tiers[1] else "fuzzy")
            for i, doc in enumerate(found)
        ]

    def _exact(self, q: str, limit: int, scope: _Scope | None) -> list[int]:
        """The best ``limit`` documents holding ``q``, one per address, in rank order."""
        found: list[int] = []
        slots = self._slots(_grams(q))
        if slots is not None:
            if slots:
                self._scan_postings(slots, [q], limit, scope, found, set())
            else:  # only common grams: scan the text itself
                self._scan_text(q, limit, scope, found, set())
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
# Loading from the database, and the cache


def library_rows(session: Session, *, aliases: bool = True) -> Iterable[TypeaheadRow]:
    """The current standard addresses (and their current aliases) as index rows."""
    area = func.coalesce(StdAddress.grid_code, StdAddress.community_code, StdAddress.street_code)
    current = StdAddress.valid_to.is_(None)
    statement = select(StdAddress.id, StdAddress.code, StdAddress.text, StdAddress.level, area).where(current)
    for row in session.execute(statement).yield_per(20_000):
        yield (row[0], row[1], row[2], row[3], row[4])
    if aliases:
        alias_statement = (
            select(StdAddress.id, StdAddress.code, AddressAlias.alias, StdAddress.level, area)
            .join(AddressAlias, AddressAlias.address_id == StdAddress.id)
            .where(current, AddressAlias.valid_to.is_(None))
        )
        for row in session.execute(alias_statement):
            yield (row[0], row[1], row[2], row[3], row[4])


def load_typeahead(session: Session) -> TypeaheadIndex:
    """A type-ahead index over the current library (standard addresses and their aliases)."""
    return TypeaheadIndex.build(library_rows(session))


def typeahead_version(session: Session) -> Hashable:
    """Changes when the library does: (current addresses, highest id, aliases, highest alias id).

    Counting misses an edit of a text in place; `service.library_version` will replace this.
    """
    addresses = session.execute(
        select(func.count(), func.coalesce(func.max(StdAddress.id), 0)).where(StdAddress.valid_to.is_(None))
    ).one()
    aliases = session.execute(select(func.count(), func.coalesce(func.max(AddressAlias.id), 0))).one()
    return (addresses[0], addresses[1], aliases[0], aliases[1])


@dataclass
class _Entry:
    version: Hashable
    index: TypeaheadIndex
    checked: float


_cache: dict[str, _Entry] = {}
_cache_lock = threading.Lock()


def _cache_key(session: Session) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return f"{engine.url.render_as_string(hide_password=True)}#{id(engine)}"


def cached_typeahead(
    session: Session,
    *,
    version: Callable[[Session], Hashable] = typeahead_version,
    max_age: float = 0.0,
) -> TypeaheadIndex:
    """The index of this database's library, rebuilt when ``version(session)`` changes.

    ``max_age`` > 0 trusts a version checked less than that many seconds ago (the version query itself
    costs a scan of the table on SQLite); the index may then lag an edit by that long.
    """
    key = _cache_key(session)
    now = time.monotonic()
    entry = _cache.get(key)
    if entry is not None and max_age > 0 and now - entry.checked < max_age:
        return entry.index
    current = version(session)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is None or entry.version != current:
            entry = _Entry(current, load_typeahead(session), time.monotonic())
            _cache[key] = entry
        else:
            entry.checked = now
        return entry.index


def search_addresses(
    session: Session, query: str, *, visible: Visible, limit: int = 20, max_age: float = 1.0
) -> list[StdAddress]:
    """Type-ahead as the API wants it: the current `StdAddress` rows of the hits, in rank order.

    The library version is checked at most every ``max_age`` seconds (see `cached_typeahead`): counting
    the current rows scans the table, which costs more than the search on the full library.
    """
    ids = cached_typeahead(session, max_age=max_age).search_ids(query, limit, visible)
    if not ids:
        return []
    rows = session.scalars(select(StdAddress).where(StdAddress.id.in_(ids), StdAddress.valid_to.is_(None)))
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]
