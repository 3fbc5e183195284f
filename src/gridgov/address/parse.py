"""Address parsing: free text → labelled element spans (NAACL/CCKS scheme) on the original text's offsets.

Two engines behind one :class:`Parser`:

* a trained CRF (:mod:`gridgov.address.crf`), loaded with :meth:`Parser.from_model` when a model file exists;
* otherwise a deterministic rule parser: names from a gazetteer (our own address library's districts,
  streets, communities, roads and estates) first, then the suffix lexicon (省 市 区 街道 社区 路 号 栋 单元
  楼 室 …) for what the gazetteer does not know.

:func:`infer_admin` fills in the district / street / community an address leaves out, from a road or estate
whose area the gazetteer knows. It returns codes and never adds spans: what the text says stays what it says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import ahocorasick

from gridgov.address.crf import CrfTagger, Lexicon, fold
from gridgov.address.labels import (
    ADMIN_RANK,
    ADMIN_SUFFIXES,
    ASSIST_WORDS,
    CHINESE_DIGITS,
    LABEL_SET,
    NUMBER_SUFFIXES,
    char_class,
)

# Addresses are short; a longer input is tagged on its first MAX_CHARS characters so that one pasted
# document cannot stall a batch. The cut is visible: no span reaches past it.
MAX_CHARS: Final = 1000

ADMIN_LEVELS: Final[tuple[str, ...]] = ("district", "town", "community")


@dataclass(frozen=True, slots=True)
class Span:
    """One element: its label and ``[start, end)`` on the parsed text."""

    label: str
    start: int
    end: int

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class ParsedAddress:
    text: str
    spans: list[Span] = field(default_factory=list)

    def first(self, label: str) -> str | None:
        """The text of the first span with ``label``, if any."""
        for span in self.spans:
            if span.label == label:
                return span.text_of(self.text)
        return None

    def texts(self, label: str) -> list[str]:
        return [span.text_of(self.text) for span in self.spans if span.label == label]


def to_jsonl_record(parsed: ParsedAddress) -> dict[str, Any]:
    """The CLI's output line: ``{"text": …, "spans": [{"label", "start", "end"}]}``."""
    return {
        "text": parsed.text,
        "spans": [{"label": s.label, "start": s.start, "end": s.end} for s in parsed.spans],
    }


# --- gazetteer -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GazetteerEntry:
    """A known name, its label, and (when known) the codes of the area it lies in.

    For an administrative entry the codes include its own: 粤海街道 carries its district and its town code.
    """

    name: str
    label: str
    district: str | None = None
    town: str | None = None
    community: str | None = None

    def codes(self) -> dict[str, str | None]:
        return {"district": self.district, "town": self.town, "community": self.community}


GazetteerInput = Iterable["GazetteerEntry | tuple[str, str]"]


class Gazetteer:
    """Names from the address library, found in text leftmost-longest by one Aho-Corasick pass."""

    def __init__(self, entries: GazetteerInput = ()) -> None:
        self._by_name: dict[str, list[GazetteerEntry]] = {}
        self._automaton: ahocorasick.Automaton | None = None
        for entry in entries:
            self.add(entry if isinstance(entry, GazetteerEntry) else GazetteerEntry(entry[0], entry[1]))

    @classmethod
    def coerce(cls, entries: Gazetteer | GazetteerInput | None) -> Gazetteer:
        if isinstance(entries, Gazetteer):
            return entries
        return cls(entries or ())

    def add(self, entry: GazetteerEntry) -> None:
        key = fold(entry.name).strip()
        # One character names ("村", "A") match everywhere and mean nothing.
        if len(key) < 2 or entry.label not in LABEL_SET:
            return
        bucket = self._by_name.setdefault(key, [])
        if entry not in bucket:
            bucket.append(entry)
        self._automaton = None

    def __len__(self) -> int:
        return len(self._by_name)

    def lookup(self, name: str) -> list[GazetteerEntry]:
        return list(self._by_name.get(fold(name).strip(), ()))

    def pairs(self) -> Iterator[tuple[str, str]]:
        for name, entries in self._by_name.items():
            for label in dict.fromkeys(e.label for e in entries):
                yield name, label

    def matches(self, folded: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """Every occurrence ``(start, end, labels)`` in already-folded text, overlaps included."""
        if not self._by_name or not folded:
            return []
        if self._automaton is None:
            automaton = ahocorasick.Automaton()
            for name, entries in self._by_name.items():
                labels = tuple(dict.fromkeys(e.label for e in entries))
                automaton.add_word(name, (len(name), labels))
            automaton.make_automaton()
            self._automaton = automaton
        return [(end + 1 - n, end + 1, labels) for end, (n, labels) in self._automaton.iter(folded)]


# --- rule parser ------------------------------------------------------------------------------------------

_NUMBER_RE: Final = re.compile(
    rf"[0-9]+|[A-Za-z](?=[0-9])[0-9]*|[A-Za-z](?=[栋座幢号单])|[{CHINESE_DIGITS}]+"
)
_ADMIN_AUTOMATON: Final = ahocorasick.Automaton()
for _word, _label in ADMIN_SUFFIXES.items():
    _ADMIN_AUTOMATON.add_word(_word, (len(_word), _label))
_ADMIN_AUTOMATON.make_automaton()
_SUFFIX_WORDS: Final = sorted(ADMIN_SUFFIXES, key=len, reverse=True)
_NUMBER_SUFFIX_MAX: Final = max(len(w) for w in NUMBER_SUFFIXES)
# Too short a name before these suffixes is almost always part of a longer word (城市, 地区, 社区 …).
_MIN_NAME: Final[dict[str, int]] = {"prov": 2, "city": 2, "district": 2, "devzone": 2, "town": 2}
_NAME_LEVELS: Final[frozenset[str]] = frozenset(ADMIN_RANK)
_UPPER_ADMIN_RANK: Final = ADMIN_RANK["community"]


class _RuleState:
    """What the rule parser has seen so far on one address, left to right."""

    def __init__(self) -> None:
        self.rank = -1  # highest administrative/name level reached
        self.last_name = ""  # label of the last name span
        self.last_number = ""  # label of the last number span
        self.spans: list[Span] = []

    def emit(self, label: str, start: int, end: int) -> None:
        if end <= start:
            return
        self.spans.append(Span(label, start, end))
        if label in _NAME_LEVELS:
            self.rank = max(self.rank, ADMIN_RANK[label])
            self.last_name = label
            self.last_number = ""
        elif label in NUMBER_SUFFIXES.values() or label in {"subroadno"}:
            self.last_number = label


def _number_suffix(folded: str, pos: int, end: int) -> str | None:
    for n in range(_NUMBER_SUFFIX_MAX, 0, -1):
        if pos + n <= end and folded[pos : pos + n] in NUMBER_SUFFIXES:
            return folded[pos : pos + n]
    return None


def _bare_number_label(state: _RuleState, more_follow: bool) -> str:
    """The role of a number with no unit after it, from what came before (南粤山庄10-601: building, room)."""
    last = state.last_number
    if last in ("houseno",):
        return "cellno" if more_follow else "roomno"
    if last in ("cellno", "floorno", "roomno"):
        return "roomno"
    if last == "roadno":
        return "houseno" if more_follow else "roomno"
    if state.last_name in ("road", "subroad"):
        return "roadno"
    if state.last_name in ("poi", "subpoi"):
        return "houseno" if more_follow else "roomno"
    return "roomno" if state.spans else "otherinfo"


def _segment_name(folded: str, start: int, end: int, state: _RuleState) -> None:
    """Cut a run of name characters at level-naming suffixes; what is left over is a place name (poi)."""
    cands = []
    for e, (n, label) in _ADMIN_AUTOMATON.iter(folded, start, end):
        cands.append((e + 1 - n, e + 1, label))
    cursor = start
    while cursor < end:
        usable = [c for c in cands if c[0] - cursor >= _MIN_NAME.get(c[2], 1) and c[1] <= end]
        if not usable:
            break
        first_end = min(c[1] for c in usable)
        # Longest suffix ending there (社区 over 区), or starting with it (街道 over 街).
        ending = [c for c in usable if c[1] == first_end]
        s, e, label = min(ending, key=lambda c: c[0])
        longer = [c for c in usable if c[0] == s and c[1] > e]
        if longer:
            s, e, label = max(longer, key=lambda c: c[1])
        rank = ADMIN_RANK[label]
        if rank < state.rank or (rank == state.rank and rank <= _UPPER_ADMIN_RANK):
            if state.rank <= _UPPER_ADMIN_RANK:
                # Still among the admin names: a level named twice or out of order is noise (慈东滨海区).
                state.emit("redundant", cursor, e)
                cursor = e
            else:
                # After the road or estate, 市 or 区 is part of a name (城市花园, 园区): not a cut.
                cands = [c for c in cands if c != (s, e, label)]
            continue
        state.emit(label, cursor, e)
        cursor = e
        cands = [c for c in cands if c[0] >= cursor]
    if cursor < end:
        _emit_leftover(folded, cursor, end, state)


def _emit_leftover(folded: str, start: int, end: int, state: _RuleState) -> None:
    for word in sorted(ASSIST_WORDS, key=len, reverse=True):
        if folded.endswith(word, start, end) and end - len(word) >= start:
            if end - len(word) > start:
                _emit_leftover(folded, start, end - len(word), state)
            state.emit("assist", end - len(word), end)
            return
    label = "subpoi" if state.last_name == "poi" and not state.last_number else "poi"
    if state.last_number in ("houseno", "cellno", "floorno", "roomno"):
        label = "otherinfo" if end - start < 2 else "subpoi"
    state.emit(label, start, end)


def _rule_gap(folded: str, start: int, end: int, state: _RuleState) -> None:
    """Parse ``folded[start:end]``, a stretch the gazetteer did not claim."""
    pos = start
    name_start: int | None = None

    def close_name(at: int) -> None:
        nonlocal name_start
        if name_start is not None and at > name_start:
            _segment_name(folded, name_start, at, state)
        name_start = None

    while pos < end:
        ch = folded[pos]
        cls = char_class(ch)
        if cls == "S":
            close_name(pos)
            pos += 1
            continue
        if cls == "P" or cls == "O":
            close_name(pos)
            # A dash between two numbers joins them (10-601); elsewhere punctuation is noise.
            state.emit("redundant", pos, pos + 1)
            pos += 1
            continue
        m = _NUMBER_RE.match(folded, pos, end)
        if m is not None:
            suffix = _number_suffix(folded, m.end(), end)
            is_cn = cls == "Z"
            if suffix is not None or not is_cn:
                close_name(pos)
                if suffix is not None:
                    label = NUMBER_SUFFIXES[suffix]
                    if label == "roadno" and state.last_name not in ("road", "subroad", ""):
                        label = "houseno"  # 南粤山庄5号: a building, not a road number
                    if label == "roadno" and state.last_number == "roadno":
                        label = "subroadno"
                    state.emit(label, pos, m.end() + len(suffix))
                    pos = m.end() + len(suffix)
                else:
                    nxt = m.end()
                    more = nxt + 1 < end and folded[nxt] in "-—~" and folded[nxt + 1].isalnum()
                    state.emit(_bare_number_label(state, more), pos, nxt)
                    pos = nxt
                continue
        if name_start is None:
            name_start = pos
        pos += 1
    close_name(end)


def rule_parse(text: str, gazetteer: Gazetteer | None = None) -> list[Span]:
    """Deterministic spans for ``text``: gazetteer names leftmost-longest, then suffix rules in the gaps."""
    text = text[:MAX_CHARS]
    folded = fold(text)
    state = _RuleState()
    matches = gazetteer.matches(folded) if gazetteer is not None else []
    # Leftmost-longest, and never a name that cuts a number or a Latin word in two.
    matches.sort(key=lambda m: (m[0], -(m[1] - m[0])))
    chosen: list[tuple[int, int, tuple[str, ...]]] = []
    cursor = 0
    for s, e, labels in matches:
        if s < cursor:
            continue
        if e < len(folded) and folded[e - 1].isascii() and folded[e - 1].isalnum() and folded[e].isalnum():
            continue
        # 深圳 in the gazetteer, 深圳市 in the text: the level's own suffix belongs to the name.
        for word in _SUFFIX_WORDS:
            if folded.startswith(word, e) and ADMIN_SUFFIXES[word] in labels:
                e += len(word)
                break
        chosen.append((s, e, labels))
        cursor = e
    pos = 0
    for s, e, labels in chosen:
        if s > pos:
            _rule_gap(folded, pos, s, state)
        label = _pick_label(labels, state)
        rank = ADMIN_RANK.get(label)
        if (
            rank is not None
            and rank <= _UPPER_ADMIN_RANK
            and rank <= state.rank
            and state.rank <= _UPPER_ADMIN_RANK
        ):
            label = "redundant"  # a level named again (深圳市深圳市), as the corpus marks it
        elif label == "poi" and state.last_name == "poi" and not state.last_number:
            label = "subpoi"
        state.emit(label, s, e)
        pos = e
    if pos < len(folded):
        _rule_gap(folded, pos, len(folded), state)
    return sorted(state.spans, key=lambda sp: sp.start)


def _pick_label(labels: Sequence[str], state: _RuleState) -> str:
    """For a name with several labels, the first one that does not go back up the address ladder."""
    ranked = sorted(labels, key=lambda lb: ADMIN_RANK.get(lb, 99))
    for label in ranked:
        if ADMIN_RANK.get(label, 99) > state.rank:
            return label
    return ranked[-1]


# --- the parser -------------------------------------------------------------------------------------------


class Parser:
    """Text → :class:`ParsedAddress`, with a CRF when one is loaded, else with rules on a gazetteer."""

    def __init__(
        self,
        gazetteer: Gazetteer | GazetteerInput | None = None,
        *,
        tagger: CrfTagger | None = None,
    ) -> None:
        self.gazetteer = Gazetteer.coerce(gazetteer)
        self.tagger = tagger
        if tagger is not None and len(self.gazetteer):
            tagger.add_names(self.gazetteer.pairs())

    @classmethod
    def from_model(cls, path: str | Path, gazetteer: Gazetteer | GazetteerInput | None = None) -> Parser:
        """A CRF parser from a model file (trained by :func:`gridgov.address.crf.train`).

        The gazetteer's names join the model's lexicon, so library names help the model too.
        """
        return cls(gazetteer, tagger=CrfTagger(Path(path)))

    @classmethod
    def auto(
        cls, gazetteer: Gazetteer | GazetteerInput | None = None, model: str | Path | None = None
    ) -> Parser:
        """The CRF when ``model`` names an existing file, else the rule parser: what the CLI wants."""
        if model is not None and Path(model).is_file():
            return cls.from_model(model, gazetteer)
        return cls(gazetteer)

    @property
    def engine(self) -> str:
        return "crf" if self.tagger is not None else "rules"

    def parse(self, text: str) -> ParsedAddress:
        if not isinstance(text, str):
            raise TypeError(f"parse() takes str, not {type(text).__name__}")
        clipped = text[:MAX_CHARS]
        if self.tagger is not None:
            raw = self.tagger.tag(clipped)
            spans = [Span(label, start, end) for label, start, end in raw]
        else:
            spans = rule_parse(clipped, self.gazetteer)
        return ParsedAddress(text, _clean(clipped, spans))

    def parse_many(self, texts: Iterable[str]) -> Iterator[ParsedAddress]:
        for text in texts:
            yield self.parse(text)


def _clean(text: str, spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping, trimmed of surrounding whitespace, inside the text."""
    out: list[Span] = []
    last_end = 0
    for span in sorted(spans, key=lambda sp: (sp.start, -sp.end)):
        start, end = max(span.start, last_end), min(span.end, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end <= start or span.label not in LABEL_SET:
            continue
        out.append(Span(span.label, start, end))
        last_end = end
    return out


# --- administrative inference -----------------------------------------------------------------------------

# Spans whose names can place an address in an area, most specific first.
_ANCHOR_LABELS: Final[tuple[str, ...]] = (
    "subpoi",
    "poi",
    "subroad",
    "road",
    "devzone",
    "community",
    "town",
    "district",
)


@dataclass(frozen=True)
class InferredAdmin:
    """Area codes an address did not state, inferred from names the gazetteer places.

    A level is filled only when the evidence agrees on one code; levels the text states are left ``None``.
    """

    district: str | None = None
    town: str | None = None
    community: str | None = None
    ambiguous: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str | None]:
        return {"district": self.district, "town": self.town, "community": self.community}


def infer_admin(parsed: ParsedAddress, gazetteer: Gazetteer | GazetteerInput) -> InferredAdmin:
    """Fill missing district / street (town) / community codes from names the gazetteer knows the area of."""
    gaz = Gazetteer.coerce(gazetteer)
    stated = {span.label for span in parsed.spans if span.label in ADMIN_LEVELS}
    missing = [level for level in ADMIN_LEVELS if level not in stated]
    if not missing:
        return InferredAdmin()

    # Each anchor offers the area triples of its gazetteer entries; entries that contradict a stated,
    # known admin name are dropped (a road called 新城路 exists in many districts).
    stated_codes: dict[str, set[str]] = {}
    for span in parsed.spans:
        if span.label in ADMIN_LEVELS:
            for entry in gaz.lookup(span.text_of(parsed.text)):
                code = entry.codes()[span.label]
                if entry.label == span.label and code:
                    stated_codes.setdefault(span.label, set()).add(code)

    def consistent(entry: GazetteerEntry) -> bool:
        codes = entry.codes()
        return all(codes[lv] is None or codes[lv] in allowed for lv, allowed in stated_codes.items())

    per_level: dict[str, set[str] | None] = dict.fromkeys(missing)
    evidence: list[str] = []
    for span in parsed.spans:
        if span.label not in _ANCHOR_LABELS:
            continue
        name = span.text_of(parsed.text)
        entries = [e for e in gaz.lookup(name) if consistent(e)]
        if not entries:
            continue
        used = False
        for level in missing:
            codes = {c for e in entries if (c := e.codes()[level])}
            if not codes:
                continue
            current = per_level[level]
            per_level[level] = codes if current is None else (current & codes)
            used = True
        if used:
            evidence.append(name)

    filled: dict[str, str | None] = dict.fromkeys(ADMIN_LEVELS)
    ambiguous: list[str] = []
    for level in missing:
        found = per_level[level]
        if found is None:
            continue
        if len(found) == 1:
            filled[level] = next(iter(found))
        else:
            ambiguous.append(level)
    return InferredAdmin(
        district=filled["district"],
        town=filled["town"],
        community=filled["community"],
        ambiguous=tuple(ambiguous),
        evidence=tuple(evidence),
    )


__all__ = [
    "MAX_CHARS",
    "Gazetteer",
    "GazetteerEntry",
    "InferredAdmin",
    "Lexicon",
    "ParsedAddress",
    "Parser",
    "Span",
    "infer_admin",
    "rule_parse",
    "to_jsonl_record",
]
