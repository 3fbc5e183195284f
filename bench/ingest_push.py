"""Benchmark: a ~10 MB push to ``POST /api/ingest/push/NAME`` as a JSON array, against the same kind of
rows as JSON Lines (the baseline), in one run.

Setup: a temporary SQLite database, migrated, with the Nanshan areas, the address library of a tiny demo
world (scale 0.002) and the shipped business-register spec registered under another name. Per variant,
with fresh rows: the body is kept in the inbox as the push route keeps it, then

- **time**: ``sources.receive_push`` (what the route runs after storing the body: JSON array → JSON Lines,
  the row cap, the import as one batch), untraced;
- **memory**: the Python heap's peak (tracemalloc) while the body is read, converted and checked — the
  part that differs between a JSON array and JSON Lines (the import then reads both the same way).

    python bench/ingest_push.py [--mb 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path


def rows(target_bytes: int) -> list[dict[str, str]]:
    """Business-register rows (fresh, valid credit codes; addresses that match nothing) of about
    ``target_bytes`` as JSON."""
    from gridgov.core.identifiers import credit_code_check_char, org_code_check_char

    seed = uuid.uuid4().int
    out: list[dict[str, str]] = []
    size = 0
    i = 0
    while size < target_bytes:
        body = f"{(seed + i) % 100_000_000:08d}"
        first17 = "91440300" + body + org_code_check_char(body)
        row = {
            "序号": f"B{seed % 10**8}-{i}",
            "统一社会信用代码": first17 + credit_code_check_char(first17),
            "主体名称": f"基准推送商行{i}号",
            "主体类型": "个体工商户",
            "法定代表人/经营者": "张基准",
            "注册资本(万元)": "10",
            "成立日期": "2019-05-06",
            "登记状态": "存续",
            "行业门类": "批发和零售业",
            "住所": f"测试省测试市测试大道{i}号",
            "经营场所": f"测试省测试市测试大道{i}号",
            "风险等级": "低",
            "三小场所类别": "",
        }
        out.append(row)
        size += len(json.dumps(row, ensure_ascii=False).encode()) + 2
        i += 1
    return out


def measure(mb: float) -> list[dict[str, float | int | str]]:
    work = Path(tempfile.mkdtemp(prefix="gridgov-bench-push-"))
    os.environ["GRIDGOV_VAR_DIR"] = str(work / "var")
    os.environ.pop("GRIDGOV_DATABASE_URL", None)
    os.environ["GRIDGOV_PUSH_MAX_ROWS"] = "1000000"
    from sqlalchemy import select

    from gridgov.address.service import import_file
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.core.db import get_engine, session_factory, transaction
    from gridgov.core.migrate import upgrade
    from gridgov.core.private_files import private_dir
    from gridgov.demo.generate import generate_world
    from gridgov.ingest import sources
    from gridgov.ingest.mapping import builtin_spec_texts
    from gridgov.ingest.models import Source

    engine = get_engine()
    upgrade(engine)
    factory = session_factory(engine)
    spec = builtin_spec_texts()["entities.business_register"].replace(
        "name: entities.business_register", "name: bench.push"
    )
    with transaction(factory) as session:
        # The pipeline matches every address through the library: the areas and a small world's library.
        world = work / "world"
        generate_world(world, scale=0.002, seed=1)
        load_nanshan_areas(session)
        import_file(session, world / "addresses" / "standard_addresses.csv", source="bench")
        sources.register(session, spec)
    with transaction(factory) as session:
        source = session.scalars(select(Source).where(Source.name == "bench.push")).one()
        session.expunge(source)
    inbox = private_dir(sources.inbox_dir(work / "var"))
    results: list[dict[str, float | int | str]] = []
    for variant in ("jsonl", "json"):
        data = rows(int(mb * 1024 * 1024))  # fresh rows: each variant inserts, none comes back unchanged
        if variant == "json":
            body = json.dumps(data, ensure_ascii=False).encode()
        else:
            body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in data).encode()
        del data
        # Memory: what the body costs before the pipeline's chunks (reading, converting, checking), traced.
        probe = inbox / f"probe.{variant}"
        probe.write_bytes(body)
        tracemalloc.start()
        feed, kind = sources.feed_file_of(probe)
        sources.check_readable(feed, kind)
        _size, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # Time: the whole push after the body is stored (conversion, row cap, the import), untraced.
        kept = inbox / f"body.{variant}"
        kept.write_bytes(body)
        started = time.perf_counter()
        report = sources.receive_push(factory, source, kept, started_by="bench")
        seconds = time.perf_counter() - started
        results.append(
            {
                "variant": variant,
                "body_mb": round(len(body) / 1024 / 1024, 2),
                "rows": report.rows,
                "seconds": round(seconds, 2),
                "rows_per_second": round(report.rows / seconds),
                "read_peak_mb": round(peak / 1024 / 1024, 1),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.mb)
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        label = "JSON array" if r["variant"] == "json" else "JSON Lines (baseline)"
        print(
            f"{label:22} {r['body_mb']:6} MB  {r['rows']:7,} rows  {r['seconds']:7} s  "
            f"{r['rows_per_second']:6,} rows/s  reading peak {r['read_peak_mb']} MB (Python heap)"
        )


if __name__ == "__main__":
    main()
