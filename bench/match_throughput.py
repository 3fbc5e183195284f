"""Benchmark: batch address matching throughput and accuracy at city scale (issue 4, "Throughput").

Library = the synthetic Nanshan world's full standard address library (every building and every
dwelling: 1,102,500 records at scale 1.0), built from ``addresses/standard_addresses.csv`` and
``addresses/dwellings.csv`` exactly as `batch.load_library` builds it from the database (dwellings know
their building; areas per building). Queries = the world's self-declared resident list
(``population/residents_self_declared.csv``, 2.16 million rows at scale 1.0, every address written the
messy ways of ``demo/textmess.py``), matched by the production path `batch.match_library_file`
(streaming CSV in, CSV out, all cores) — the same code `gridgov address match` runs.

Figures:
- records/s over the whole file (reading, matching, writing; the one-off matcher build is timed apart);
- accuracy against the ground truth (``residents_truth.csv``: the dwelling each row really is), over the
  rows that have one (rows the generator broke on purpose — a date in the address column — still come
  out, as unmatched or unreadable, and are counted apart);
- peak memory: the proportional set size (PSS) of the main process and its workers together, sampled
  every 0.5 s by a separate process — shared pages (the matcher is built once and forked) are counted
  once;
- baseline, same run, same records: cpca's batch district extraction (``cpca.transform``), the usual
  open tool, which stops at the district — records/s, and how many records it places in 南山区.

    python bench/match_throughput.py [--world DIR] [--scale 1.0] [--limit N] [--workers N]
                                     [--baseline-sample 200000] [--json]

The world is generated once into ``var/cache/world-<scale>`` (about 2.5 minutes and 1.6 GB at scale 1.0)
and reused afterwards.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gridgov.address.batch import match_library_file
from gridgov.demo.library import world_library

TARGET_RATE = 60_000
TARGET_ACCURACY = 0.99
TARGET_MEMORY_GB = 2.0
ROOT = Path(__file__).resolve().parents[1]


def world_dir(scale: float, given: Path | None) -> Path:
    folder = given or ROOT / "var" / "cache" / f"world-{scale:g}"
    if not (folder / "addresses" / "dwellings.csv").exists():
        from gridgov.demo.generate import generate_world

        print(f"generating the synthetic world at scale {scale:g} into {folder} (once) …", flush=True)
        generate_world(folder, scale=scale, seed=1)
    return folder


# Sampling runs in its own small process: a thread in this one would take the GIL from the loop that feeds
# the workers and slow the job it measures (~10% at one sample every 2 s).
_SAMPLER = """
import select, sys
pid = int(sys.argv[1])
def pss(p):
    try:
        with open(f"/proc/{p}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
def children(p):
    try:
        with open(f"/proc/{p}/task/{p}/children", encoding="ascii") as handle:
            return [int(c) for c in handle.read().split()]
    except OSError:
        return []
peak = 0
while True:
    peak = max(peak, pss(pid) + sum(pss(c) for c in children(pid)))
    if select.select([sys.stdin], [], [], 0.5)[0]:
        break
print(peak)
"""


class PeakMemory:
    """Peak PSS of this process plus its children (the pool's workers), sampled every 0.5 s by a separate
    process (PSS counts a shared page once across the processes that share it)."""

    def __init__(self) -> None:
        self.peak = 0
        self._sampler: subprocess.Popen[str] | None = None

    def __enter__(self) -> PeakMemory:
        self._sampler = subprocess.Popen(
            [sys.executable, "-c", _SAMPLER, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._sampler is not None
        out, _err = self._sampler.communicate("stop\n")
        self.peak = int(out.strip() or 0)


def query_file(folder: Path, limit: int | None, scratch: Path) -> Path:
    source = folder / "population" / "residents_self_declared.csv"
    if limit is None:
        return source
    target = scratch / f"residents-{limit}.csv"
    with (
        source.open(encoding="utf-8-sig", newline="") as inp,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        out.writelines(itertools.islice(inp, limit + 1))
    return target


def accuracy(output: Path, truth_path: Path) -> dict[str, Any]:
    truth: dict[str, tuple[str, bool]] = {}
    with truth_path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            truth[row["record_id"]] = (row["true_dwelling_code"], bool(row["broken"]))
    scored = right = broken = accepted = accepted_right = review = 0
    with output.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            code, is_broken = truth.get(row["申报编号"], ("", True))
            if is_broken or not code:
                broken += 1
                continue
            scored += 1
            hit = row["std_code"] == code
            right += hit
            if row["decision"] == "accept":
                accepted += 1
                accepted_right += hit
            elif row["decision"] == "review":
                review += 1
    return {
        "scored": scored,
        "right": right,
        "accuracy": right / scored if scored else 0.0,
        "accepted_share": accepted / scored if scored else 0.0,
        "accepted_precision": accepted_right / accepted if accepted else 0.0,
        "review_share": review / scored if scored else 0.0,
        "broken_rows": broken,
    }


def cpca_baseline(source: Path, sample: int) -> dict[str, Any]:
    try:
        import cpca  # type: ignore[import-untyped]
    except ImportError:
        return {"error": "cpca is not installed: pip install -e '.[bench]'"}
    with source.open(encoding="utf-8-sig", newline="") as handle:
        texts = [row["居住地址"] for row in itertools.islice(csv.DictReader(handle), sample)]
    cpca.transform(texts[:100])  # load its tables before timing
    started = time.perf_counter()
    frame = cpca.transform(texts)
    seconds = time.perf_counter() - started
    in_nanshan = int((frame["区"] == "南山区").sum())
    return {
        "records": len(texts),
        "seconds": seconds,
        "rate": len(texts) / seconds,
        "district_found_share": in_nanshan / len(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="a generated world (default: var/cache/world-<scale>)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--limit", type=int, help="match only the first N rows (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline-sample", type=int, default=200_000, help="records given to cpca")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    folder = world_dir(args.scale, args.world)
    scratch = ROOT / "var" / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    source = query_file(folder, args.limit, scratch)
    output = scratch / "match-throughput.csv"

    with PeakMemory() as memory:
        started = time.perf_counter()
        library = world_library(folder)
        loaded = time.perf_counter()
        from gridgov.address.batch import _matcher_for

        _matcher_for(library)  # the one-off build, timed apart (the workers fork from it)
        built = time.perf_counter()
        summary = match_library_file(library, source, output, column="居住地址", workers=args.workers)
        finished = time.perf_counter()
    rows = summary["rows"]
    rate = rows / (finished - built)
    quality = accuracy(output, folder / "population" / "residents_truth.csv")
    baseline = cpca_baseline(source, args.baseline_sample)
    result: dict[str, Any] = {
        "world": str(folder),
        "library_records": len(library.records),
        "rows": rows,
        "workers": args.workers,
        "load_library_s": round(loaded - started, 2),
        "build_matcher_s": round(built - loaded, 2),
        "match_s": round(finished - built, 2),
        "records_per_s": round(rate),
        "peak_memory_gb": round(memory.peak / 1e9, 3),
        **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in quality.items()},
        "decisions": {k: summary[k] for k in ("accept", "review", "reject", "error")},
        "cpca": baseline,
        "ratio_to_cpca": round(rate / baseline["rate"], 2) if "rate" in baseline else None,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"library: {len(library.records):,} standard addresses ({folder})")
    print(f"matched {rows:,} rows with {args.workers} workers in {result['match_s']} s")
    print(f"  library load {result['load_library_s']} s, matcher build {result['build_matcher_s']} s (once)")
    print(f"  throughput: {rate:,.0f} records/s   (target ≥ {TARGET_RATE:,})")
    print(
        f"  accuracy:   {quality['accuracy']:.4%} of {quality['scored']:,} rows with a true dwelling"
        f"   (target ≥ {TARGET_ACCURACY:.0%})"
    )
    print(
        f"  decisions:  accepted {quality['accepted_share']:.2%}"
        f" (precision {quality['accepted_precision']:.4%}), review {quality['review_share']:.2%};"
        f" {quality['broken_rows']:,} deliberately broken rows"
    )
    print(
        f"  peak memory (PSS, all processes): {memory.peak / 1e9:.2f} GB   (target ≤ {TARGET_MEMORY_GB} GB)"
    )
    if "rate" in baseline:
        print(
            f"baseline cpca.transform on {baseline['records']:,} of the same records: {baseline['rate']:,.0f}"
            f" records/s, district found for {baseline['district_found_share']:.1%}"
            " (it stops at the district)"
        )
        print(f"ratio to cpca: {result['ratio_to_cpca']}×")
    else:
        print(f"baseline: {baseline['error']}")


if __name__ == "__main__":
    main()
