"""Benchmark: address parsing, span micro-F1 on the NAACL 2019 Chinese address corpus (dev split).

Trains the character CRF on train.txt, tags dev.txt and scores exact span + label matches. In the same run
it measures two baselines: the rule parser the product falls back to (suffix lexicon + a gazetteer of the
training spans' names) and a CRF with a unigram window only. The model is written under var/ (git-ignored):
the corpus is research-use only, so neither it nor a model trained on it goes into the package.

    .venv/bin/python bench/parse.py [--data ../shared/data/address/naacl2019] [--out var/address/crf.model]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from gridgov.address.crf import CrfTagger, Example, LabelledSpan, Lexicon, tags_to_spans, train
from gridgov.address.labels import normalise_label
from gridgov.address.parse import Parser

REPO = Path(__file__).resolve().parent.parent


def read_conll(path: Path) -> list[Example]:
    """CoNLL "token tag" lines, blank between addresses; spans in character offsets of the joined text."""
    examples: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if not tokens:
            return
        offsets, pos = [], 0
        for tok in tokens:
            offsets.append((pos, pos + len(tok)))
            pos += len(tok)
        bio = [t if t == "O" else f"{t[0]}-{normalise_label(t)}" for t in tags]
        examples.append(Example("".join(tokens), tuple(tags_to_spans(offsets, bio))))
        tokens.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            continue
        token, _, tag = line.rstrip().rpartition(" ")
        tokens.append(token)
        tags.append(tag)
    flush()
    return examples


def score(
    gold: Sequence[Example], predicted: Sequence[Iterable[LabelledSpan]]
) -> dict[str, tuple[int, int, int]]:
    """Per label (true positives, predicted, gold) counts; key "" holds the micro totals."""
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    for example, spans in zip(gold, predicted, strict=True):
        g = set(example.spans)
        p = set(spans)
        for label, _, _ in g:
            n_gold[label] += 1
        for span in p:
            n_pred[span[0]] += 1
            if span in g:
                tp[span[0]] += 1
    out = {label: (tp[label], n_pred[label], n_gold[label]) for label in sorted(set(n_gold) | set(n_pred))}
    out[""] = (sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return out


def f1(counts: tuple[int, int, int]) -> tuple[float, float, float]:
    tp, n_pred, n_gold = counts
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _train_and_tag(
    train_set: list[Example], dev: list[Example], model_path: Path, rich: bool, kwargs: dict[str, float | int]
) -> tuple[float, float, list[list[LabelledSpan]]]:
    report = train(train_set, model_path, rich=rich, learn_lexicon=rich, **kwargs)  # type: ignore[arg-type]
    tagger = CrfTagger(model_path, rich=rich)
    began = time.perf_counter()
    predicted = [tagger.tag(example.text) for example in dev]
    return report.seconds, time.perf_counter() - began, predicted


def _rule_tag(train_set: list[Example], dev: list[Example]) -> tuple[float, list[list[LabelledSpan]]]:
    parser = Parser(gazetteer=Lexicon.from_examples(train_set).entries())
    began = time.perf_counter()
    predicted = [[(s.label, s.start, s.end) for s in parser.parse(example.text).spans] for example in dev]
    return time.perf_counter() - began, predicted


def print_table(title: str, counts: dict[str, tuple[int, int, int]], out: Callable[[str], object]) -> None:
    out(f"\n{title}")
    out(f"  {'label':<12} {'P':>7} {'R':>7} {'F1':>7} {'gold':>6}")
    for label, c in counts.items():
        if not label:
            continue
        p, r, f = f1(c)
        out(f"  {label:<12} {p:7.4f} {r:7.4f} {f:7.4f} {c[2]:6d}")
    p, r, f = f1(counts[""])
    out(f"  {'MICRO':<12} {p:7.4f} {r:7.4f} {f:7.4f} {counts[''][2]:6d}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data" / "address" / "naacl2019")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "address" / "naacl-crf.model")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N addresses only (0 = all)")
    ap.add_argument("--c1", type=float, default=0.05)
    ap.add_argument("--c2", type=float, default=0.01)
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-baseline-crf", action="store_true", help="skip the unigram-CRF baseline")
    args = ap.parse_args(argv)

    train_path, dev_path = args.data / "train.txt", args.data / "dev.txt"
    if not train_path.is_file() or not dev_path.is_file():
        print(f"NAACL 2019 corpus not found under {args.data}", file=sys.stderr)
        return 2
    train_set = read_conll(train_path)
    if args.limit:
        train_set = train_set[: args.limit]
    dev = read_conll(dev_path)
    print(
        f"train: {len(train_set)} addresses, dev: {len(dev)} addresses, "
        f"{sum(len(e.spans) for e in dev)} spans"
    )

    kwargs: dict[str, float | int] = {
        "c1": args.c1,
        "c2": args.c2,
        "max_iterations": args.iterations,
        "folds": args.folds,
    }
    # The main model and the unigram baseline train side by side: crfsuite is single-threaded.
    with ProcessPoolExecutor(max_workers=2) as pool:
        main_job = pool.submit(_train_and_tag, train_set, dev, args.out, True, kwargs)
        base_job = None
        if not args.no_baseline_crf:
            base_path = args.out.with_name(args.out.stem + "-unigram.model")
            base_job = pool.submit(_train_and_tag, train_set, dev, base_path, False, kwargs)
        rule_seconds, rule_pred = _rule_tag(train_set, dev)
        train_seconds, tag_seconds, crf_pred = main_job.result()
        base = base_job.result() if base_job else None

    rule_counts = score(dev, rule_pred)
    print_table(
        f"baseline: rule parser (suffix lexicon + training-name gazetteer), {rule_seconds:.1f} s",
        rule_counts,
        print,
    )
    if base is not None:
        base_counts = score(dev, base[2])
        print_table(f"baseline: CRF, unigram window only, trained in {base[0]:.0f} s", base_counts, print)
    crf_counts = score(dev, crf_pred)
    print_table(f"CRF, rich features, trained in {train_seconds:.0f} s", crf_counts, print)

    crf_f1 = f1(crf_counts[""])[2]
    print(
        f"\ntraining time: {train_seconds:.1f} s on {len(train_set)} addresses "
        f"({args.iterations} L-BFGS iterations)"
    )
    print(f"tagging: {len(dev) / tag_seconds:,.0f} addresses/s (one core)")
    print(f"model: {args.out} (+ {args.out.name}.lexicon.tsv)  — research data: keep it under var/")
    rule_f1 = f1(rule_counts[""])[2]
    print(
        f"span micro-F1 on dev: CRF {crf_f1:.4f} | rule baseline {rule_f1:.4f} "
        f"(ratio {crf_f1 / max(rule_f1, 1e-9):.2f}x)"
    )
    if base is not None:
        base_f1 = f1(score(dev, base[2])[""])[2]
        print(f"{'':22}unigram-CRF baseline {base_f1:.4f} (ratio {crf_f1 / max(base_f1, 1e-9):.2f}x)")
    print(f"target 0.88: {'MET' if crf_f1 >= 0.88 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
