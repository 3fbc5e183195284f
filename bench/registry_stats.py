"""Benchmark: the area statistics endpoint at full scale (issue 6, "Area statistics endpoint").

``GET /api/registry/stats?area=CODE`` answers from the maintained counts (``reg_area_count``) plus one
grouped count of open verification tasks. Its cost does not depend on how many people the registry
holds, but on the areas, the metrics and the task table, so the database is built at full-scale shape
(fast, without the 15-minute import):

- the 8 streets, 107 communities and 1,610 grids of Nanshan (the real hierarchy);
- ``--people`` person rows (default 2,130,000: the district) spread over the grids, with their area codes
  and household type — only what the baseline below reads;
- the maintained counts of every area for the metrics the pipeline keeps (people, registered, floating,
  dwellings by use, rentals, entities by type …), computed from those rows;
- ``--tasks`` verification tasks (default 180,000, about what the rules make at the demo world's rate;
  a quarter already answered), spread over the grids.

Then, as the district administrator, on the app in-process (Starlette's TestClient, no network): the
district, every street, ``--sample`` communities and ``--sample`` grids, ``--rounds`` times each, p50 and
p95 per level. Baseline in the same run, same database: the same people figures counted live from the
person rows (``COUNT(*) … GROUP BY`` the child area), as a system without maintained counts would.

    python bench/registry_stats.py [--backend sqlite|postgresql] [--people N] [--tasks N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text

from gridgov.accounts import service as accounts
from gridgov.areas.models import Community, Grid, Street
from gridgov.areas.service import load_nanshan_areas
from gridgov.core.db import make_engine, session_factory
from gridgov.core.migrate import upgrade
from gridgov.demo.accounts import create_demo_accounts
from gridgov.ingest.service import DISTRICT_CODE, PERSON, bulk_insert
from gridgov.registry.models import AreaCount
from gridgov.tasks.models import Task

TARGET_MS = 100.0
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RULES = ("new_occupant", "over_occupancy", "entity_residential", "address_review", "invalid_id")
ENTITY_TYPES = ("有限责任公司", "个体工商户", "股份有限公司", "分公司", "个人独资企业", "合伙企业")


def build(session: Any, people: int, tasks: int, rng: random.Random) -> list[tuple[str, str, str]]:
    load_nanshan_areas(session)
    grids = [
        tuple(row)
        for row in session.execute(
            select(Grid.code, Grid.community_code, Community.street_code).join(
                Community, Community.code == Grid.community_code
            )
        )
    ]
    now = datetime.now(UTC)
    counts: Counter[tuple[str, str]] = Counter()
    batch: list[dict[str, Any]] = []
    for number in range(people):
        grid, community, street = grids[rng.randrange(len(grids))]
        kind = "registered" if rng.random() < 0.3 else "floating"
        batch.append(
            {
                "id_hash": f"bench{number:010d}",
                "name": "测试",
                "name_key": "测试",
                "household_type": kind,
                "street_code": street,
                "community_code": community,
                "grid_code": grid,
                "lineage": {},
                "status": "resident",
                "doc_type": "resident_id",
                "id_valid": True,
                "version": 1,
                "updated_at": now,
            }
        )
        for area in (DISTRICT_CODE, street, community, grid):
            counts[(area, "people")] += 1
            counts[(area, f"people_{kind}")] += 1
        if len(batch) == 50_000:
            bulk_insert(session, PERSON, batch)
            batch = []
    bulk_insert(session, PERSON, batch)
    # The other metrics the pipeline keeps, at district-like proportions.
    for grid, community, street in grids:
        extra = {
            "dwellings": rng.randint(400, 900),
            "dwellings_rented": rng.randint(200, 500),
            "dwellings_owner_occupied": rng.randint(100, 300),
            "dwellings_vacant": rng.randint(10, 60),
            "buildings": rng.randint(20, 60),
            "rentals": rng.randint(200, 450),
            "entities": rng.randint(100, 400),
            "entities_three_small": rng.randint(5, 40),
            **{f"entities:{kind}": rng.randint(5, 120) for kind in ENTITY_TYPES},
        }
        for metric, value in extra.items():
            for area in (DISTRICT_CODE, street, community, grid):
                counts[(area, metric)] += value
    session.execute(
        insert(AreaCount), [{"area_code": a, "metric": m, "value": v} for (a, m), v in counts.items()]
    )
    rows = []
    for number in range(tasks):
        grid, community, street = grids[rng.randrange(len(grids))]
        rows.append(
            {
                "kind": "verify",
                "rule": RULES[number % len(RULES)],
                "target_kind": "person",
                "target_id": number + 1,
                "street_code": street,
                "community_code": community,
                "grid_code": grid,
                "title": "核查",
                "what_to_check": "核查",
                "evidence": {},
                "due_at": now,
                "state": "open" if rng.random() < 0.75 else "done",
                "created_at": now,
                "open_slot": None,
            }
        )
    for start in range(0, len(rows), 50_000):
        bulk_insert(session, Task.__table__, rows[start : start + 50_000])  # type: ignore[arg-type]
    session.commit()
    return grids  # type: ignore[return-value]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "n": len(ordered),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--people", type=int, default=2_130_000)
    parser.add_argument("--tasks", type=int, default=180_000)
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from gridgov.web.app import create_app

    rng = random.Random(7)
    admin = None
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'stats.sqlite3'}"
        else:
            name = f"gridgov_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            factory = session_factory(engine)
            started = time.perf_counter()
            with factory() as session:
                build(session, args.people, args.tasks, rng)
                [account] = [a for a in create_demo_accounts(session) if a.role == "admin"]
                token = accounts.issue_token(
                    session, accounts.get_user_by_name(session, account.username), name="bench"
                ).token
                session.commit()
            if args.backend == "postgresql":
                with engine.connect() as connection:
                    connection.execute(text("ANALYZE"))
                    connection.commit()
            else:
                with engine.connect() as connection:
                    connection.exec_driver_sql("ANALYZE")
            built = time.perf_counter() - started
            with factory() as session:
                streets = list(session.scalars(select(Street.code)))
                communities = rng.sample(list(session.scalars(select(Community.code))), args.sample)
                grids = rng.sample(list(session.scalars(select(Grid.code))), args.sample)
                open_tasks = session.scalar(select(func.count()).where(Task.state == "open"))
            levels = {"district": [DISTRICT_CODE], "street": streets, "community": communities, "grid": grids}
            client = TestClient(create_app(engine), base_url="https://testserver")
            client.headers["Authorization"] = f"Bearer {token}"
            ours: dict[str, dict[str, float]] = {}
            for level, codes in levels.items():
                samples = []
                for _ in range(args.rounds):
                    for code in codes:
                        t = time.perf_counter()
                        response = client.get("/api/registry/stats", params={"area": code})
                        samples.append((time.perf_counter() - t) * 1000)
                        assert response.status_code == 200, response.text
                ours[level] = percentiles(samples)
            # Baseline: the people figures of the same areas and their children, counted live.
            child = {
                "district": "street_code",
                "street": "community_code",
                "community": "grid_code",
                "grid": "grid_code",
            }
            own = {
                "district": None,
                "street": "street_code",
                "community": "community_code",
                "grid": "grid_code",
            }
            base: dict[str, dict[str, float]] = {}
            with engine.connect() as connection:
                for level, codes in levels.items():
                    samples = []
                    for _ in range(max(1, args.rounds // 2)):
                        for code in codes:
                            where = f"WHERE {own[level]} = :code" if own[level] else ""
                            sql = text(
                                f"SELECT {child[level]}, household_type, COUNT(*) FROM reg_person {where} "
                                f"GROUP BY {child[level]}, household_type"
                            )
                            t = time.perf_counter()
                            connection.execute(sql, {"code": code}).all()
                            samples.append((time.perf_counter() - t) * 1000)
                    base[level] = percentiles(samples)
        finally:
            engine.dispose()
            if admin is not None:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    summary = {
        "backend": args.backend,
        "people": args.people,
        "tasks": args.tasks,
        "open_tasks": open_tasks,
        "build_s": round(built, 1),
        "endpoint": ours,
        "baseline_live_count": base,
        "target_p95_ms": TARGET_MS,
        "meets_target": all(v["p95_ms"] <= TARGET_MS for v in ours.values()),
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{args.backend}: {args.people:,} people, {args.tasks:,} tasks ({open_tasks:,} open); "
        f"built in {built:.0f} s"
    )
    for level in levels:
        o, b = ours[level], base[level]
        ratio = b["p95_ms"] / o["p95_ms"] if o["p95_ms"] else float("nan")
        print(
            f"  {level:9} endpoint p50 {o['p50_ms']:7.1f} ms p95 {o['p95_ms']:7.1f} ms (n={o['n']})   "
            f"live count p95 {b['p95_ms']:8.1f} ms   live / endpoint {ratio:5.1f}×"
        )
    verdict = "meets" if summary["meets_target"] else "DOES NOT meet"
    print(f"  p95 ≤ {TARGET_MS:.0f} ms at every level: {verdict} the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
