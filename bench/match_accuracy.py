"""Benchmark: retrieval accuracy of the address matcher on the Shenzhen pairs (issue 4, "Retrieval accuracy").

Library = every distinct standard address of ``val_pairs.tsv`` (positive and negative pairs) plus the
sibling distractors a real library holds next to each of them; queries = the free texts of the positive
pairs (label 1); metric = top-1 accuracy (the retrieved standard text is the pair's standard text).

Siblings are made by editing one number of the standard text as written (ASCII digits and letters only;
one edit per sibling, every edit kept):

- house number ``N号`` (not ``N号楼``) → N±1, N±2, N±3;
- building ``N栋`` / ``N座`` / ``N幢`` / ``N号楼`` (also ``B9栋``: the digits) → N±1, N±2; a letter
  building ``B栋`` / ``B座`` → the letters ±1, ±2 (A…Z);
- unit ``N单元`` → N±1; ``A单元`` → the letter ±1;
- room: a number of 3–4 digits right after a building or unit (``10栋402号``, ``2单元703``) → ±1, ±100
  (instead of the house-number edits).

A sibling equal to a real standard address (as written or once normalised) is dropped: it would be the
same place. Five pairs of standard texts differ only in writing (``桃源居6区`` / ``桃源居六区``) and
normalise to one text; a retrieved text counts as right when it normalises to the pair's standard text.

Some places are in the library twice, written with more or less of the admin prefix
(``宝安区沙井街道沙二社区帝堂路蓝天科技园5栋`` / ``宝安区沙井街道帝堂路蓝天科技园5号楼``). A retrieved
text also counts as right when, once normalised, it has the same body as the pair's standard text after
the prefix (province, city, district, street, community) and no prefix part that contradicts it: one may
leave out a part the other names, never name another. Such a pair is one place; a query that does not
name the community cannot tell them apart, and nothing in the text says which one the pair happened to
use. The table shows how many hits this rule makes (``same place``), for both matchers; it never turns a
sibling into a hit (siblings differ in a number of the body).

Baseline, measured in the same run: char 1–2-gram TF-IDF cosine on the raw texts (scikit-learn's
``TfidfVectorizer(analyzer="char", ngram_range=(1, 2))`` defaults: raw counts, smooth IDF, l2 norm),
written with numpy (scikit-learn is not installed); exact scores, the whole library per query.

    python bench/match_accuracy.py [--pairs FILE] [--siblings cut|keep|none] [--seed N] [--misses N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import time
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gridgov.address.match import AUTO_ACCEPT, REVIEW_BAND, TOP_K, Matcher, StdRecord
from gridgov.address.normalize import normalize

PAIRS = Path(__file__).resolve().parents[2] / "shared" / "data" / "address" / "sz_matching" / "val_pairs.tsv"
TARGET = 0.99

_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])([0-9]+)号(?!楼)")
_BUILDING_RE = re.compile(r"(?<![0-9])([0-9]+)(?=栋|座|幢|号楼)")
_LETTER_RE = re.compile(r"(?<![0-9A-Za-z])([A-Z])(?=栋|座)")
_UNIT_RE = re.compile(r"(?<![0-9A-Za-z])([0-9]+|[A-Z])(?=单元)")
_ROOM_RE = re.compile(r"(?<=栋|元)([1-9][0-9]{2,3})(?=号|室|房|$)")


_ADMIN_PARTS_RE = re.compile(
    r"^(?:广东省?)?(?:深圳市?)?(?P<district>[\u4e00-\u9fff]{2,4}?(?:新区|区))?"
    r"(?P<street>[\u4e00-\u9fff]{2,4}?街道)?(?P<community>[\u4e00-\u9fff]{2,5}?社区)?"
)


def _admin_split(norm: str) -> tuple[tuple[str | None, ...], str]:
    """(district, street, community), body of a normalised text."""
    m = _ADMIN_PARTS_RE.match(norm)
    assert m is not None  # every group is optional
    return (m.group("district"), m.group("street"), m.group("community")), norm[m.end() :]


def same_place(a: str, b: str) -> bool:
    """Two normalised texts that differ only in how much of a compatible admin prefix they write."""
    if a == b:
        return True
    (admin_a, body_a), (admin_b, body_b) = _admin_split(a), _admin_split(b)
    return body_a == body_b and all(
        x is None or y is None or x == y for x, y in zip(admin_a, admin_b, strict=True)
    )


def siblings(text: str, cut: bool = True) -> set[str]:
    """Neighbouring addresses of the same road or estate: one number of `text` edited (see module doc).

    `cut`: the sibling ends right after the edited component (see the module doc); else the rest of the
    text is kept as it is.
    """
    out: set[str] = set()

    def _edit(text: str, start: int, end: int, value: str) -> str:
        if cut:
            unit = re.match(r"号楼|单元|号|栋|座|幢|室|房", text[end:])
            tail = end + (unit.end() if unit else 0)
            return text[:start] + value + text[end:tail]
        return text[:start] + value + text[end:]

    rooms = {m.start(1) for m in _ROOM_RE.finditer(text)}
    for m in _ROOM_RE.finditer(text):
        n = int(m.group(1))
        for d in (-100, -1, 1, 100):
            if n + d > 0:
                out.add(_edit(text, m.start(1), m.end(1), str(n + d)))
    for m in _NUMBER_RE.finditer(text):
        if m.start(1) in rooms:
            continue
        n = int(m.group(1))
        for d in (-3, -2, -1, 1, 2, 3):
            if n + d > 0:
                out.add(_edit(text, m.start(1), m.end(1), str(n + d)))
    for m in _BUILDING_RE.finditer(text):
        n = int(m.group(1))
        for d in (-2, -1, 1, 2):
            if n + d > 0:
                out.add(_edit(text, m.start(1), m.end(1), str(n + d)))
    for m in _LETTER_RE.finditer(text):
        i = string.ascii_uppercase.index(m.group(1))
        for d in (-2, -1, 1, 2):
            if 0 <= i + d < 26:
                out.add(_edit(text, m.start(1), m.end(1), string.ascii_uppercase[i + d]))
    for m in _UNIT_RE.finditer(text):
        v = m.group(1)
        for d in (-1, 1):
            if v.isdigit():
                if int(v) + d > 0:
                    out.add(_edit(text, m.start(1), m.end(1), str(int(v) + d)))
            elif 0 <= (j := string.ascii_uppercase.index(v) + d) < 26:
                out.add(_edit(text, m.start(1), m.end(1), string.ascii_uppercase[j]))
    out.discard(text)
    return out


class TfidfBaseline:
    """char 1–2-gram TF-IDF cosine, scikit-learn's defaults, exact over the whole library."""

    def __init__(self, texts: list[str]) -> None:
        self.vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, t in enumerate(texts):
            for g, n in self._grams(t).items():
                rows.append(i)
                cols.append(self.vocab.setdefault(g, len(self.vocab)))
                vals.append(n)
        r, c, v = np.asarray(rows), np.asarray(cols), np.asarray(vals, dtype=np.float64)
        df = np.bincount(c, minlength=len(self.vocab))
        self.idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        w = v * self.idf[c]
        norms = np.sqrt(np.bincount(r, weights=w**2, minlength=len(texts)))
        w = w / norms[r]
        order = np.argsort(c, kind="stable")
        self.docs, self.weights = r[order], w[order]
        self.ptr = np.concatenate(([0], np.cumsum(df)))
        self.n = len(texts)

    @staticmethod
    def _grams(text: str) -> Counter[str]:
        t = " ".join(text.lower().split())
        return Counter([*t, *(t[i : i + 2] for i in range(len(t) - 1))])

    def best(self, text: str) -> int:
        acc: npt.NDArray[np.float64] = np.zeros(self.n)
        for g, n in self._grams(text).items():
            gid = self.vocab.get(g)
            if gid is None:
                continue
            a, b = self.ptr[gid], self.ptr[gid + 1]
            acc[self.docs[a:b]] += n * self.idf[gid] * self.weights[a:b]  # postings hold distinct docs
        return int(np.argmax(acc))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument(
        "--siblings",
        choices=("cut", "keep", "none"),
        default="cut",
        help="sibling distractors: cut after the edited number (default), keep the rest of the text, or none",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="library order (ties must not favour the real ones)"
    )
    parser.add_argument("--misses", type=int, default=0, help="print this many of our misses")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    rows = [line.split("\t") for line in args.pairs.read_text(encoding="utf-8").splitlines() if line.strip()]
    standards = sorted({r[1] for r in rows})
    queries = [(r[0], r[1]) for r in rows if r[2].strip() == "1"]
    std_norms = {normalize(s) for s in standards}
    library = list(standards)
    if args.siblings != "none":
        extra: set[str] = set()
        for s in standards:
            extra |= siblings(s, cut=args.siblings == "cut")
        std_set = set(standards)
        library += sorted(x for x in extra if x not in std_set and normalize(x) not in std_norms)
    # Shuffled: with the real records first, an exact tie (a query that does not say which of two
    # records it means) would go to the real one in any argmax, which a real library does not do.
    random.Random(args.seed).shuffle(library)

    started = time.perf_counter()
    matcher = Matcher(StdRecord(code=str(i), text=t) for i, t in enumerate(library))
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    baseline = TfidfBaseline(library)
    base_build_s = time.perf_counter() - started

    gold_norm = [normalize(s) for _, s in queries]
    lib_norm = [normalize(t) for t in library]

    started = time.perf_counter()
    ours = [matcher.match(q, k=1) for q, _ in queries]
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    base = [baseline.best(q) for q, _ in queries]
    base_s = time.perf_counter() - started

    ours_got = [normalize(c[0].text) if c else "" for c in ours]
    ours_ok = [bool(c) and same_place(t, g) for c, t, g in zip(ours, ours_got, gold_norm, strict=True)]
    base_ok = [same_place(lib_norm[i], g) for i, g in zip(base, gold_norm, strict=True)]
    ours_same = sum(ok and t != g for ok, t, g in zip(ours_ok, ours_got, gold_norm, strict=True))
    base_same = sum(ok and lib_norm[i] != g for ok, i, g in zip(base_ok, base, gold_norm, strict=True))
    # Recall of the candidate stage: is the right record among the TOP_K the re-ranker sees?
    index_of = {t: i for i, t in enumerate(lib_norm)}
    recall = sum(
        index_of.get(g, -1) in set(matcher._candidates(normalize(q), TOP_K).tolist())
        for (q, _), g in zip(queries, gold_norm, strict=True)
    ) / len(queries)
    accepted = [(c[0].score >= AUTO_ACCEPT, ok) for c, ok in zip(ours, ours_ok, strict=True) if c]
    n_acc = sum(a for a, _ in accepted)
    acc_right = sum(a and ok for a, ok in accepted)
    review = sum(1 for c in ours if c and REVIEW_BAND[0] <= c[0].score < REVIEW_BAND[1])
    levels = Counter(c[0].level if c else "none" for c in ours)

    n = len(queries)
    figures = {
        "library": len(library),
        "standards": len(standards),
        "siblings": len(library) - len(standards),
        "queries": n,
        "top1_ours": sum(ours_ok) / n,
        "top1_baseline": sum(base_ok) / n,
        "same_place_ours": ours_same,
        "same_place_baseline": base_same,
        "recall_at_k": recall,
        "records_per_s_ours": n / ours_s,
        "records_per_s_baseline": n / base_s,
        "speed_ratio": (n / ours_s) / (n / base_s),
        "build_s_ours": build_s,
        "build_s_baseline": base_build_s,
        "auto_accepted": n_acc / n,
        "auto_accept_precision": acc_right / max(n_acc, 1),
        "review_band": review / n,
        "levels": dict(levels),
        "target": TARGET,
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        n_sib = figures["siblings"]
        print(f"library            {len(library):>8} records ({len(standards)} standard + {n_sib} siblings)")
        print(f"sibling mode       {args.siblings:>8}")
        print(f"queries            {n:>8}")
        print(f"top-1 baseline     {figures['top1_baseline']:>8.2%}   char 1-2-gram TF-IDF cosine")
        print(f"top-1 ours         {figures['top1_ours']:>8.2%}   target {TARGET:.1%}")
        print(
            f"same place         {ours_same:>8}   hits by another record of the place (baseline {base_same})"
        )
        print(f"recall@{TOP_K:<3}         {recall:>8.2%}   (candidate stage)")
        print(f"records/s baseline {figures['records_per_s_baseline']:>8.0f}   (one core)")
        ours_rate, ratio = figures["records_per_s_ours"], figures["speed_ratio"]
        print(f"records/s ours     {ours_rate:>8.0f}   (one core); ratio {ratio:.2f}x")
        print(f"build s            {build_s:>8.2f}   (baseline {base_build_s:.2f})")
        print(
            f"auto-accept ≥{AUTO_ACCEPT:.2f}  {figures['auto_accepted']:>8.2%} of queries, "
            f"precision {figures['auto_accept_precision']:.2%}; review band {figures['review_band']:.2%}"
        )
        print(f"levels             {dict(levels.most_common())}")
    shown = 0
    for (q, s), c, ok in zip(queries, ours, ours_ok, strict=True):
        if ok or shown >= args.misses:
            continue
        shown += 1
        got = c[0] if c else None
        print(f"\nMISS  {q}\n  want {s}\n  got  {got.text if got else '-'}  {got.score if got else ''}")
        if got:
            print(f"  why  {got.reason}")
            want = [x for x in matcher.match(q, k=TOP_K) if normalize(x.text) == normalize(s)]
            print(f"  gold {want[0].score:.4f} {want[0].reason}" if want else "  gold not in candidates")


if __name__ == "__main__":
    main()
