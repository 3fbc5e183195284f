"""Benchmark: normalise the free texts of the Shenzhen pairs file, repeated to ≥ 200,000 records.

Prints records/s and µs/record for `gridgov.address.normalize.normalize` (one core), for
`normalize_with_map`, and for the baseline — `unicodedata.normalize("NFKC")` then
`cn2an.transform(text, "cn2an")`, the obvious way to get full-width folding and numerals with well-kept
packages — measured on the same records in the same run, with the ratio. Budget: ≤ 30 µs/record.

    python bench/normalize.py [--records 200000] [--baseline-sample 0] [--json]

`--baseline-sample N` times the baseline on the first N records only (0 = all of them).
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata
import warnings
from pathlib import Path

import cn2an

from gridgov.address.normalize import normalize, normalize_with_map

PAIRS = Path(__file__).resolve().parents[2] / "shared" / "data" / "address" / "sz_matching" / "val_pairs.tsv"
BUDGET_US_PER_RECORD = 30.0


def baseline(text: str) -> str:
    return str(cn2an.transform(unicodedata.normalize("NFKC", text), "cn2an"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--baseline-sample", type=int, default=0)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    free_texts = [line.split("\t", 1)[0] for line in args.pairs.read_text(encoding="utf-8").splitlines()]
    repeats = -(-args.records // len(free_texts))
    records = (free_texts * repeats)[: max(args.records, len(free_texts))]

    normalize(records[0])  # import-time tables are built; this warms the numeral memo like a long run would
    started = time.perf_counter()
    for text in records:
        normalize(text)
    ours = time.perf_counter() - started

    started = time.perf_counter()
    for text in records:
        normalize_with_map(text)
    mapped = time.perf_counter() - started

    sample = records if args.baseline_sample <= 0 else records[: args.baseline_sample]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns on every 百/千/万 it cannot read as a number
        started = time.perf_counter()
        for text in sample:
            baseline(text)
        theirs = time.perf_counter() - started

    figures: dict[str, object] = {
        "records": len(records),
        "distinct_texts": len(set(free_texts)),
        "normalize_records_per_s": round(len(records) / ours),
        "normalize_us_per_record": round(ours / len(records) * 1e6, 2),
        "normalize_with_map_records_per_s": round(len(records) / mapped),
        "normalize_with_map_us_per_record": round(mapped / len(records) * 1e6, 2),
        "baseline_records_per_s": round(len(sample) / theirs),
        "baseline_us_per_record": round(theirs / len(sample) * 1e6, 2),
        "baseline_sample": len(sample),
    }
    figures["ratio_normalize_vs_baseline"] = round(
        (len(records) / ours) / (len(sample) / theirs),
        1,
    )
    figures["budget_us_per_record"] = BUDGET_US_PER_RECORD
    figures["budget_met"] = ours / len(records) * 1e6 <= BUDGET_US_PER_RECORD
    if args.json:
        print(json.dumps(figures))
        return
    width = max(len(k) for k in figures)
    print(f"normalise {len(records):,} free-text addresses (val_pairs.tsv, repeated), one core")
    for key, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        print(f"  {key:<{width}}  {shown}")


if __name__ == "__main__":
    main()
