"""Benchmark: identity resolution precision and recall against the synthetic world's ground truth (issue 6).

The population feed (自主申报 + 门禁采集) goes through the import pipeline twice, each time into a fresh
SQLite database holding the areas and the world's address library:

- **ours**: the feed as generated, but with the document number blanked on a share of the door-access
  rows (``--no-id-share``, default 0.5: door-access systems often record a face and a name, not an ID),
  under a spec that does not require the ID: rows with an ID resolve by its lookup hash, rows without one
  by the careful fuzzy match (name + birth date, weighed by dwelling, phone and sex; doubtful pairs go to
  the review queue, not merged);
- **baseline** (same run, same feed): ID-only resolution, the shipped spec, where a row without an ID
  cannot be resolved and is quarantined.

Truth: ``residents_truth.csv`` (``person_id`` per row). Rows the generator broke on purpose are left out
of both sides (they are quarantined either way). Metrics are pairwise over rows: a pair of rows is
predicted "same person" when both went to the same record; precision = right predicted pairs / predicted
pairs, recall = right predicted pairs / true pairs (among all unbroken rows, so a quarantined row's pairs
count as missed). Also: records made vs true persons, doubtful pairs queued for review, and how many of
those are truly the same person.

    python bench/identity.py [--world DIR | --scale 0.01 --seed 1] [--no-id-share 0.5] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from gridgov.address.service import import_file
from gridgov.areas.service import load_nanshan_areas
from gridgov.core.db import make_engine, session_factory
from gridgov.core.migrate import upgrade
from gridgov.ingest import service
from gridgov.ingest.mapping import builtin_spec_texts
from gridgov.registry.models import IdentityReview, Person

FEED = "population/residents_self_declared.csv"
TRUTH = "population/residents_truth.csv"


def _pairs(sizes: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes.values())


def _prepare(world: Path, workdir: Path, name: str):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{workdir / (name + '.sqlite3')}")
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session:
        load_nanshan_areas(session)
        for feed in ("standard_addresses.csv", "dwellings.csv"):
            import_file(session, world / "addresses" / feed, source="bench")
        session.commit()
    return engine, factory


def _run(
    world: Path, workdir: Path, name: str, feed: Path, spec_text: str | None, source: str
) -> dict[str, object]:
    engine, factory = _prepare(world, workdir, name)
    if spec_text is not None:
        with factory.begin() as session:
            service.register_source(session, spec_text)
    trace = service.IdentityTrace()
    started = time.perf_counter()
    report = service.ingest_file(factory, feed, source=source, trace=trace)
    seconds = time.perf_counter() - started
    with factory() as session:
        records = session.scalar(select(Person.id).order_by(Person.id.desc()).limit(1)) or 0
        keys_of_id = dict(session.execute(select(Person.id, Person.id_hash)).all())
        reviews = [(r.record_id, r.candidate_id) for r in session.scalars(select(IdentityReview))]
    engine.dispose()
    return {
        "report": report.as_dict(),
        "seconds": seconds,
        "trace": {number: trace.final_key(number) for number in trace.rows},
        "records": records,
        "reviews": [(keys_of_id.get(a), keys_of_id.get(b)) for a, b in reviews],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", type=Path, help="a world written by `gridgov demo generate`")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-id-share", type=float, default=0.5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-identity-") as tmp:
        workdir = Path(tmp)
        world = args.world
        if world is None:
            from gridgov.demo.generate import generate_world

            world = workdir / "world"
            generate_world(world, scale=args.scale, seed=args.seed)
        with (world / TRUTH).open(encoding="utf-8-sig") as handle:
            truth = {row["record_id"]: row for row in csv.DictReader(handle)}
        # The feed with the ID blanked on a share of the door-access rows.
        rng = random.Random(args.seed)
        with (world / FEED).open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        id_column, channel_column = header.index("证件号码"), header.index("数据来源")
        blanked = 0
        for row in body:
            if (
                len(row) == len(header)
                and row[channel_column] == "门禁采集"
                and rng.random() < args.no_id_share
            ):
                row[id_column] = ""
                blanked += 1
        feed = workdir / "residents_some_without_id.csv"
        with feed.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *body])
        record_of_row = {number: row[0] for number, row in enumerate(body, start=1)}
        spec = builtin_spec_texts()["population.self_declared"]
        ours_spec = spec.replace(
            "name: population.self_declared", "name: bench.population_some_without_id"
        ).replace(
            "id_number: {column: 证件号码, type: resident_id, required: true, on_invalid: flag}",
            "id_number: {column: 证件号码, type: resident_id, on_invalid: flag}",
        )
        assert ours_spec != spec
        results = {
            "ours": _run(world, workdir, "ours", feed, ours_spec, "bench.population_some_without_id"),
            "baseline": _run(world, workdir, "baseline", feed, None, "population.self_declared"),
        }
    unbroken = {record for record, row in truth.items() if not row["broken"]}
    true_pairs = _pairs(Counter(truth[record]["person_id"] for record in unbroken))
    persons = len({truth[record]["person_id"] for record in unbroken})
    figures: dict[str, object] = {
        "rows": len(body),
        "rows_without_id": blanked,
        "unbroken_rows": len(unbroken),
        "true_persons": persons,
        "true_pairs": true_pairs,
    }
    for name, result in results.items():
        trace: dict[int, str] = result["trace"]  # type: ignore[assignment]
        taken = {record_of_row[n]: key for n, key in trace.items() if record_of_row[n] in unbroken}
        predicted = _pairs(Counter(taken.values()))
        right = _pairs(Counter((key, truth[record]["person_id"]) for record, key in taken.items()))
        person_of_key: dict[str, set[str]] = {}
        for record, key in taken.items():
            person_of_key.setdefault(key, set()).add(truth[record]["person_id"])
        reviews: list[tuple[str | None, str | None]] = result["reviews"]  # type: ignore[assignment]
        truly_same = sum(
            1 for a, b in reviews if a and b and person_of_key.get(a, set()) & person_of_key.get(b, set())
        )
        report: dict[str, int] = result["report"]  # type: ignore[assignment]
        figures[name] = {
            "precision": round(right / predicted, 5) if predicted else 1.0,
            "recall": round(right / true_pairs, 5) if true_pairs else 1.0,
            "rows_taken": len(taken),
            "quarantined": report["quarantined"],
            "records": len(set(taken.values())),
            "review_queue": len(reviews),
            "review_truly_same": truly_same,
            "seconds": round(float(result["seconds"]), 1),  # type: ignore[arg-type]
        }
    ours, base = figures["ours"], figures["baseline"]
    figures["recall_ratio_vs_baseline"] = (
        round(ours["recall"] / base["recall"], 3) if base["recall"] else None  # type: ignore[index,operator]
    )
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        print(
            f"rows {len(body):,} ({blanked:,} without ID), "
            f"true persons {persons:,}, true pairs {true_pairs:,}"
        )
        for name in ("ours", "baseline"):
            f: dict[str, object] = figures[name]  # type: ignore[assignment]
            print(
                f"{name:9} precision {f['precision']:.4f}  recall {f['recall']:.4f}  "
                f"records {f['records']:,}  "
                f"quarantined {f['quarantined']:,}  review queue {f['review_queue']:,} "
                f"({f['review_truly_same']:,} truly same)  {f['seconds']} s"
            )
        print(f"recall ratio ours / ID-only baseline: {figures['recall_ratio_vs_baseline']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
