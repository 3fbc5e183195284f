"""A linear-chain CRF (python-crfsuite) that labels address tokens with the NAACL/CCKS elements.

Tokens are single characters, except that runs of ASCII digits or letters stay whole ("832", "B", "soho"):
a house number is one decision, not three. Each token gets character n-grams in a window, character
classes, position, suffix-lexicon hits (路, 号, 栋, 街道 …) and lexicon hits: names with a known label, which
come from a gazetteer (the address library in production, the training spans in the benchmark).

No model ships with the package: the corpus it learns from is research-use only. Train one with
``bench/parse.py`` (it writes under ``var/``) or with :func:`train` on data you may use.
"""

from __future__ import annotations

import bisect
import random
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import ahocorasick
import pycrfsuite

from gridgov.address.labels import (
    ADMIN_SUFFIXES,
    ASSIST_WORDS,
    LABEL_SET,
    NUMBER_SUFFIXES,
    POI_SUFFIXES,
    char_class,
    half_width,
)

TOKEN_RE: Final = re.compile(r"[0-9]+|[A-Za-z]+|.", re.S)

# Labels whose span text is a reusable name; numbers, people and noise are patterns, not names.
NAME_LABELS: Final[frozenset[str]] = frozenset(
    {
        "country",
        "prov",
        "city",
        "district",
        "devzone",
        "town",
        "community",
        "road",
        "subroad",
        "poi",
        "subpoi",
    }
)

LabelledSpan = tuple[str, int, int]  # (label, start, end) on the text, end exclusive


@dataclass(frozen=True)
class Example:
    """One labelled address: the text and its element spans."""

    text: str
    spans: tuple[LabelledSpan, ...]


def fold(text: str) -> str:
    """Full-width ASCII to half width, one character for one, so token offsets are offsets on the input."""
    return "".join(half_width(ch) for ch in text)


def tokenize(text: str) -> list[tuple[int, int]]:
    """Token boundaries ``(start, end)`` on ``text``; whitespace characters are tokens too (labelled O)."""
    return [(m.start(), m.end()) for m in TOKEN_RE.finditer(fold(text))]


class Lexicon:
    """Names with their labels, found in a text by one Aho-Corasick pass."""

    def __init__(self, entries: Iterable[tuple[str, str]] = (), *, min_len: int = 2) -> None:
        self._names: dict[str, set[str]] = {}
        self._min_len = min_len
        for name, label in entries:
            self.add(name, label)
        self._automaton: ahocorasick.Automaton | None = None

    def add(self, name: str, label: str) -> None:
        name = fold(name).strip()
        if len(name) < self._min_len or label not in LABEL_SET:
            return
        self._names.setdefault(name, set()).add(label)
        self._automaton = None

    def __len__(self) -> int:
        return len(self._names)

    def entries(self) -> Iterator[tuple[str, str]]:
        for name, labels in sorted(self._names.items()):
            for label in sorted(labels):
                yield name, label

    def _built(self) -> ahocorasick.Automaton | None:
        if self._automaton is None and self._names:
            automaton = ahocorasick.Automaton()
            for name, labels in self._names.items():
                automaton.add_word(name, (len(name), tuple(sorted(labels))))
            automaton.make_automaton()
            self._automaton = automaton
        return self._automaton

    def find(self, text: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """Every occurrence ``(start, end, labels)`` of a known name in ``text`` (overlaps included)."""
        automaton = self._built()
        if automaton is None or not text:
            return []
        found = []
        for end_index, (length, labels) in automaton.iter(fold(text)):
            found.append((end_index + 1 - length, end_index + 1, labels))
        return found

    def save(self, path: Path) -> None:
        path.write_text("".join(f"{name}\t{label}\n" for name, label in self.entries()), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        lexicon = cls()
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, label = line.partition("\t")
            lexicon.add(name, label)
        return lexicon

    @classmethod
    def from_examples(cls, examples: Iterable[Example]) -> Lexicon:
        lexicon = cls()
        for example in examples:
            for label, start, end in example.spans:
                if label in NAME_LABELS:
                    lexicon.add(example.text[start:end], label)
        return lexicon


def _suffix_automaton() -> ahocorasick.Automaton:
    kinds: dict[str, list[str]] = {}
    for word, label in ADMIN_SUFFIXES.items():
        kinds.setdefault(word, []).append(f"a:{label}")
    for word, label in NUMBER_SUFFIXES.items():
        kinds.setdefault(word, []).append(f"n:{label}")
    for word in POI_SUFFIXES:
        kinds.setdefault(word, []).append("p")
    for word in ASSIST_WORDS:
        kinds.setdefault(word, []).append("x")
    automaton = ahocorasick.Automaton()
    for word, found in kinds.items():
        automaton.add_word(word, (len(word), tuple(found)))
    automaton.make_automaton()
    return automaton


_SUFFIXES: Final = _suffix_automaton()


def _shape(token: str) -> str:
    """The token as a feature: numbers by length only (the value says nothing about the role)."""
    if token[0].isdigit():
        return f"<D{min(len(token), 5)}>"
    if token[0].isascii() and token[0].isalpha():
        return "<L>" if len(token) == 1 else "<LL>"
    return token


def token_features(
    text: str, lexicon: Lexicon | None, *, rich: bool = True
) -> tuple[list[tuple[int, int]], list[list[str]]]:
    """Tokens of ``text`` and the CRF attributes of each.

    ``rich=False`` gives the unigram-window baseline the benchmark compares against.
    """
    folded = fold(text)
    spans = [(m.start(), m.end()) for m in TOKEN_RE.finditer(folded)]
    n = len(spans)
    toks = [folded[s:e] for s, e in spans]
    words = [_shape(t) for t in toks]
    classes = [char_class(t[0]) for t in toks]
    starts = [s for s, _ in spans]

    def tok_at(offset: int) -> int:
        return bisect.bisect_right(starts, offset) - 1

    def w(j: int) -> str:
        return words[j] if 0 <= j < n else ("<S>" if j < 0 else "</S>")

    def c(j: int) -> str:
        return classes[j] if 0 <= j < n else "_"

    feats: list[list[str]] = []
    if not rich:
        for i in range(n):
            feats.append(["b", f"w={w(i)}", f"w-1={w(i - 1)}", f"w+1={w(i + 1)}"])
        return spans, feats

    # Suffix words and lexicon names, by the tokens they start, cover and end.
    extra: list[list[str]] = [[] for _ in range(n)]
    sfx_end_at: dict[int, list[str]] = {}
    for end_index, (length, kinds) in _SUFFIXES.iter(folded) if folded else ():
        s_tok, e_tok = tok_at(end_index + 1 - length), tok_at(end_index)
        for kind in kinds:
            extra[e_tok].append(f"sE={kind}")
            extra[s_tok].append(f"sB={kind}")
            if kind.startswith("a:") or kind.startswith("n:"):
                sfx_end_at.setdefault(e_tok, []).append(kind)
    # Levels already named to the left: a second 宁波市 or a district after a town is noise (redundant),
    # a place after a poi is a subpoi.
    ended_before: list[set[str]] = [set() for _ in range(n + 1)]
    if lexicon is not None:
        longest = [0] * n
        for start, end, labels in lexicon.find(folded):
            e_tok = tok_at(end - 1)
            ended_before[e_tok + 1].update(labels)
            s_tok, e_tok = tok_at(start), tok_at(end - 1)
            for k in range(s_tok, e_tok + 1):
                longest[k] = max(longest[k], end - start)
            for label in labels:
                if s_tok == e_tok:
                    extra[s_tok].append(f"L=S:{label}")
                    continue
                extra[s_tok].append(f"L=B:{label}")
                extra[e_tok].append(f"L=E:{label}")
                for k in range(s_tok + 1, e_tok):
                    extra[k].append(f"L=I:{label}")
        for k in range(n):
            if longest[k]:
                extra[k].append(f"Llen={min(longest[k], 8)}")

    seen: set[str] = set()
    for i in range(n):
        seen |= ended_before[i]
        extra[i].extend(f"seen={label}" for label in sorted(seen))

    # Text repeated within the address (浙江省宁波市慈溪市宁波市慈溪市): the corpus marks the second
    # copy redundant, so say whether a token belongs to a piece seen before or after.
    limit = min(len(folded), 200)
    for p in range(limit):
        for k in range(min(8, limit - p), 1, -1):
            piece = folded[p : p + k]
            if not piece.strip():
                break
            before = folded.find(piece, 0, p + k - 1) != -1
            after = folded.find(piece, p + 1) != -1
            if before or after:
                tag = f"{'E' if before else ''}{'L' if after else ''}{min(k, 4)}"
                for t in range(tok_at(p), tok_at(p + k - 1) + 1):
                    extra[t].append(f"dup={tag}")
                break

    # The nearest level-naming suffix before and after each token: a number after 路 is a road number,
    # one after 栋 a room, whatever stands in between.
    prev_sfx: list[str] = ["-"] * n
    last = "-"
    for i in range(n):
        prev_sfx[i] = last
        if i in sfx_end_at:
            last = "|".join(sorted(set(sfx_end_at[i])))
    next_sfx: list[str] = ["-"] * n
    nxt = "-"
    for i in range(n - 1, -1, -1):
        next_sfx[i] = nxt
        if i in sfx_end_at:
            nxt = "|".join(sorted(set(sfx_end_at[i])))

    for i in range(n):
        f = [
            "b",
            f"w={w(i)}",
            f"w-1={w(i - 1)}",
            f"w+1={w(i + 1)}",
            f"w-2={w(i - 2)}",
            f"w+2={w(i + 2)}",
            f"w-3={w(i - 3)}",
            f"w+3={w(i + 3)}",
            f"w-1w={w(i - 1)}{w(i)}",
            f"ww+1={w(i)}{w(i + 1)}",
            f"w-2w-1={w(i - 2)}{w(i - 1)}",
            f"w+1w+2={w(i + 1)}{w(i + 2)}",
            f"w-1w+1={w(i - 1)}{w(i + 1)}",
            f"w-2w-1w={w(i - 2)}{w(i - 1)}{w(i)}",
            f"w-1ww+1={w(i - 1)}{w(i)}{w(i + 1)}",
            f"ww+1w+2={w(i)}{w(i + 1)}{w(i + 2)}",
            f"c={c(i - 2)}{c(i - 1)}{c(i)}{c(i + 1)}{c(i + 2)}",
            f"c0={c(i)}",
            f"pos={min(i, 12)}",
            f"rpos={min(n - 1 - i, 12)}",
            f"ps={prev_sfx[i]}",
            f"ns={next_sfx[i]}",
            f"ps+w={prev_sfx[i]}/{w(i)}",
        ]
        if classes[i] == "A":
            f.append(f"a={toks[i].lower()}")
        f.extend(dict.fromkeys(extra[i]))  # a repeated attribute would count twice
        feats.append(f)
    return spans, feats


def spans_to_tags(tokens: Sequence[tuple[int, int]], spans: Iterable[LabelledSpan]) -> list[str]:
    """BIOES tags for tokens from character spans (a span boundary inside a token snaps outward)."""
    tags = ["O"] * len(tokens)
    starts = [s for s, _ in tokens]
    for label, start, end in spans:
        if end <= start:
            continue
        s_tok = bisect.bisect_right(starts, start) - 1
        e_tok = bisect.bisect_right(starts, end - 1) - 1
        if s_tok < 0 or e_tok < s_tok:
            continue
        if s_tok == e_tok:
            tags[s_tok] = f"S-{label}"
            continue
        tags[s_tok] = f"B-{label}"
        for k in range(s_tok + 1, e_tok):
            tags[k] = f"I-{label}"
        tags[e_tok] = f"E-{label}"
    return tags


def tags_to_spans(tokens: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[LabelledSpan]:
    """Character spans from BIOES (or BIO) tags; an ill-formed sequence still yields sane, disjoint spans."""
    spans: list[LabelledSpan] = []
    cur_label: str | None = None
    cur_start = 0
    cur_end = 0
    for (start, end), tag in zip(tokens, tags, strict=True):
        prefix, _, label = tag.partition("-")
        if prefix == "O" or not label:
            if cur_label is not None:
                spans.append((cur_label, cur_start, cur_end))
            cur_label = None
            continue
        if prefix in ("B", "S") or label != cur_label:
            if cur_label is not None:
                spans.append((cur_label, cur_start, cur_end))
            cur_label, cur_start = label, start
        cur_end = end
        if prefix in ("E", "S"):
            spans.append((label, cur_start, cur_end))
            cur_label = None
    if cur_label is not None:
        spans.append((cur_label, cur_start, cur_end))
    return spans


def lexicon_path(model_path: Path) -> Path:
    """Where the lexicon a model was trained with lives: next to the model."""
    return model_path.with_name(model_path.name + ".lexicon.tsv")


@dataclass
class TrainReport:
    model_path: Path
    seconds: float
    sequences: int
    lexicon_entries: int
    params: dict[str, float | int] = field(default_factory=dict)


def train(
    examples: Sequence[Example],
    model_path: Path,
    *,
    gazetteer: Iterable[tuple[str, str]] = (),
    learn_lexicon: bool = True,
    folds: int = 5,
    rich: bool = True,
    c1: float = 0.05,
    c2: float = 0.01,
    max_iterations: int = 150,
    seed: int = 13,
    verbose: bool = False,
) -> TrainReport:
    """Train a CRF on ``examples`` and write it to ``model_path`` (and its lexicon next to it).

    With ``learn_lexicon`` the names in the training spans join the lexicon. Each training address then sees
    a lexicon built *without its own fold* (jackknifing): otherwise every training name is always in the
    lexicon, the model learns to trust it blindly, and falls over on names it has never seen.
    """
    began = time.perf_counter()
    base = Lexicon(gazetteer)
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    fold_of = {idx: k % max(folds, 1) for k, idx in enumerate(order)}

    fold_lexicons: list[Lexicon] = []
    if learn_lexicon and rich:
        for k in range(max(folds, 1)):
            lex = Lexicon(base.entries())
            for idx, example in enumerate(examples):
                if fold_of[idx] != k or folds <= 1:
                    for label, start, end in example.spans:
                        if label in NAME_LABELS:
                            lex.add(example.text[start:end], label)
            fold_lexicons.append(lex)

    trainer = pycrfsuite.Trainer(verbose=verbose)
    for idx, example in enumerate(examples):
        lexicon = fold_lexicons[fold_of[idx]] if fold_lexicons else (base if rich else None)
        tokens, feats = token_features(example.text, lexicon, rich=rich)
        if not tokens:
            continue
        trainer.append(feats, spans_to_tags(tokens, example.spans))
    params: dict[str, float | int] = {"c1": c1, "c2": c2, "max_iterations": max_iterations}
    trainer.set_params({**params, "feature.possible_transitions": True})
    model_path.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(model_path))

    final = Lexicon(base.entries())
    if learn_lexicon:
        for example in examples:
            for label, start, end in example.spans:
                if label in NAME_LABELS:
                    final.add(example.text[start:end], label)
    final.save(lexicon_path(model_path))
    return TrainReport(
        model_path=model_path,
        seconds=time.perf_counter() - began,
        sequences=len(examples),
        lexicon_entries=len(final),
        params=params,
    )


class CrfTagger:
    """A trained model plus the lexicon its features look names up in."""

    def __init__(self, model_path: Path, lexicon: Lexicon | None = None, *, rich: bool = True) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"no CRF model at {self.model_path}")
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(self.model_path))
        if lexicon is None:
            saved = lexicon_path(self.model_path)
            lexicon = Lexicon.load(saved) if saved.is_file() else Lexicon()
        self.lexicon = lexicon
        self.rich = rich

    def add_names(self, entries: Iterable[tuple[str, str]]) -> None:
        """Teach the lexicon more names (e.g. the address library's roads and estates)."""
        for name, label in entries:
            self.lexicon.add(name, label)

    def tag(self, text: str) -> list[LabelledSpan]:
        tokens, feats = token_features(text, self.lexicon, rich=self.rich)
        if not tokens:
            return []
        tags = self._tagger.tag(feats)
        # Whitespace and control characters carry no element; never start or end a span on them.
        return [
            (label, start, end)
            for label, start, end in tags_to_spans(tokens, tags)
            if text[start:end].strip() and label in LABEL_SET
        ]
