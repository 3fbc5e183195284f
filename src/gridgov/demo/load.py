"""`gridgov demo load`: put the synthetic Nanshan world into the database through the real import paths.

The area hierarchy, the address library, one account per role, event types and units, the block data
(buildings, dwellings, people, rentals, legal entities, through the import pipeline, then the detection
rules' verification tasks) and the historical events. Feeds of the world that no loader exists for are
listed as waiting, not silently skipped. Each step is announced as it begins (`LoadReport`): the whole
load takes minutes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from gridgov.address.service import import_file
from gridgov.areas.schemas import AreaStats
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.areas.service import load_nanshan_areas
from gridgov.audit.service import record
from gridgov.core.errors import InvalidInput
from gridgov.core.settings import get_settings
from gridgov.demo.accounts import create_demo_accounts, place_demo_accounts, where_the_work_is


class LoadReport(Protocol):
    """Told of the load's progress: `gridgov demo load` shows it on the terminal."""

    def step(self, name: str) -> None:
        """A step begins (the one before it is done)."""

    def rows(self, done: int) -> None:
        """Rows the running step has handled so far (the block-data feeds report chunk by chunk)."""


class _Silent:
    def step(self, name: str) -> None:
        pass

    def rows(self, done: int) -> None:
        pass


def ensure_world(world_dir: Path) -> Path:
    """The given world (a folder written by ``gridgov demo generate``)."""
    if not (world_dir / "manifest.json").is_file():
        raise InvalidInput(
            f"{world_dir} is not a demo world (no manifest.json): "
            "write one with `gridgov demo generate --out DIR`"
        )
    return world_dir


#: The world's block-data feeds and the registered sources (mapping specs) they go in under, in order:
#: buildings and dwellings first, then people, so that rental tenants link to the people already known.
REGISTRY_FEEDS = (
    ("addresses/standard_addresses.csv", "housing.buildings"),
    ("addresses/dwellings.csv", "housing.dwellings"),
    ("population/residents_self_declared.csv", "population.self_declared"),
    ("housing/rentals.xlsx", "housing.rentals"),
    ("entities/business_register.csv", "entities.business_register"),
)


def load_demo(
    session: Session,
    *,
    world_dir: Path | None = None,
    events: bool = True,
    registry: bool = True,
    report: LoadReport | None = None,
) -> list[str]:
    """Load the world; returns report lines (what was loaded, what waits for a loader).

    ``registry``: import the block-data feeds through the import pipeline (committing what came before,
    as the pipeline commits chunk by chunk), run the detection rules and place the demo community and grid
    accounts where their tasks are. ``report`` is told of every step as it begins, and of the rows of
    each feed chunk by chunk."""
    report = report or _Silent()
    if world_dir is None:
        # The generated world's feeds hold (synthetic) resident IDs and phones in clear, like a real
        # department's export: they are written to a private temporary folder outside the working
        # directory, loaded, and removed. `gridgov demo generate --out DIR` keeps a world to look at.
        from gridgov.demo.generate import generate_world

        settings = get_settings()
        with tempfile.TemporaryDirectory(prefix="gridgov-demo-world-") as scratch:
            world = Path(scratch) / f"demo-world-s{settings.demo_scale:g}-seed{settings.demo_seed}"
            report.step(
                f"generating the demo world (scale {settings.demo_scale:g}, seed {settings.demo_seed})"
            )
            generate_world(world, scale=settings.demo_scale, seed=settings.demo_seed)
            return load_demo(session, world_dir=world, events=events, registry=registry, report=report)
    world = ensure_world(world_dir)
    manifest = json.loads((world / "manifest.json").read_text(encoding="utf-8"))
    report.step("areas: streets, communities and grids")
    stats = load_nanshan_areas(session)
    record_area_load(session, stats)
    report.step("address library: buildings")
    buildings = import_file(session, world / "addresses" / "standard_addresses.csv", source="demo-world")
    report.step("address library: dwellings")
    dwellings = import_file(session, world / "addresses" / "dwellings.csv", source="demo-world")
    report.step("demo accounts")
    accounts = create_demo_accounts(session)
    from gridgov.events.service import seed_categories, seed_org_units

    report.step("event types and handling units")
    units = seed_org_units(session)
    categories = seed_categories(session)
    lines = [
        f"world: {world} (scale {manifest.get('scale')}, seed {manifest.get('seed')})",
        f"areas: {stats.streets} streets, {stats.communities} communities, {stats.grids} grids "
        f"(polygons synthetic: {'yes' if stats.synthetic_geometry else 'no'})",
        f"addresses: {buildings.imported + buildings.unchanged} buildings, "
        f"{dwellings.imported + dwellings.unchanged} dwellings "
        f"({buildings.rejected + dwellings.rejected} rejected)",
        f"accounts: {len(accounts)} demo accounts, one per role (`gridgov demo users` prints them)",
        f"events: {categories} event types, {units} handling units (1+8+N) added",
    ]
    loaded = {"addresses/standard_addresses.csv", "addresses/dwellings.csv"}
    if registry:
        session.commit()
        lines += load_demo_registry(session, world, report=report)
        loaded |= {name for feed, _source in REGISTRY_FEEDS for name in (feed, feed.replace(".xlsx", ".csv"))}
        report.step("demo accounts: placing the community and grid accounts where the tasks are")
        place = where_the_work_is(session)
        if place is not None:
            place_demo_accounts(session, place)
            lines.append(
                f"demo accounts: demo.community works in {place.community_name} ({place.community}), "
                f"demo.grid in its grids {', '.join(place.grids)}: where the verification tasks are"
            )
    if events:
        lines += load_demo_events(session, world, report=report)
        loaded |= {feed for feed in EVENT_FEEDS if (world / feed).exists()}
    # (The *_truth.csv files are the generator's answers, for tests and benchmarks: not feeds.)
    waiting = sorted(
        str(name)
        for name in manifest.get("files", {})
        if name not in loaded and not str(name).endswith("_truth.csv")
    )
    if waiting:
        lines.append("generated but not loadable yet (no import path for them): " + ", ".join(waiting))
    return lines


def load_demo_registry(session: Session, world: Path, *, report: LoadReport | None = None) -> list[str]:
    """The world's block data through the import pipeline, deliberately bad rows included (they end in
    the quarantine, with their reasons); one report line per feed."""
    from gridgov.core.db import session_factory
    from gridgov.ingest.service import ingest_file
    from gridgov.rules.service import run_rules

    report = report or _Silent()
    factory = session_factory(session.get_bind().engine)
    lines = []
    for feed, source in REGISTRY_FEEDS:
        path = world / feed
        if not path.exists():
            path = path.with_suffix(".csv")  # a world written with --no-xlsx has CSV instead
        report.step(f"block data: {source} ({path.name})")
        batch = ingest_file(
            factory,
            path,
            source=source,
            started_by="demo",
            progress=report.rows,
            workers=2,  # the next chunk mapped and matched in a second process while one is written
        )
        lines.append(
            f"registry {source}: {batch.rows} rows → {batch.accepted} accepted, {batch.merged} merged, "
            f"{batch.unchanged} unchanged, {batch.quarantined} quarantined (batch {batch.batch})"
        )
    # Then the detection rules over everything loaded: the verification tasks the data implies.
    report.step("verification tasks: the detection rules")
    created = run_rules(session)
    session.commit()
    made = ", ".join(f"{rule} {count}" for rule, count in created.items() if count)
    lines.append(f"verification tasks: {sum(created.values())} created ({made or 'none'})")
    return lines


def record_area_load(session: Session, stats: AreaStats) -> None:
    """The area load is a bulk write the ORM hook does not see: one audit entry says what was replaced."""
    record(
        session,
        action="area.load",
        object_type="area_grid",
        details={"streets": stats.streets, "communities": stats.communities, "grids": stats.grids},
    )


#: The world's event feeds, loaded through the intake and workflow services (their flow records replayed).
EVENT_FEEDS = ("events/hotline_12345.xlsx", "events/grid_reports.csv")
#: Open events whose type usually needs several departments get the whistle, this many per street.
WHISTLES_PER_STREET = 2


def load_demo_events(
    session: Session, world: Path, *, limit: int | None = None, report: LoadReport | None = None
) -> list[str]:
    """The world's historical events: 12345 work orders and grid reports filed at their own times with
    their flows replayed; a few open multi-department ones whistled; the deadline pass run (the overdue
    ones turn red and are supervised from above). ``limit`` rows per feed (tests)."""
    from sqlalchemy import select

    from gridgov.events import jobs, service
    from gridgov.events.models import Event, EventCategory
    from gridgov.events.workflow import State

    report = report or _Silent()
    lines: list[str] = []
    for feed in EVENT_FEEDS:
        path = world / feed
        if not path.exists():
            continue
        report.step(f"events: {path.name} (filed at their own times, flows replayed)")
        imported = service.import_reports(session, path, limit=limit)
        lines.append(
            f"events from {feed}: {imported.imported} filed, {imported.unchanged} already there, "
            f"{imported.rejected} rejected (kept with reasons: {imported.rejects_file or '-'}), "
            f"{imported.history_incomplete} with a flow that stops short"
        )
    report.step("events: whistles and the deadline pass")
    open_multi = session.scalars(
        select(Event)
        .join(EventCategory, EventCategory.id == Event.category_id)
        .where(
            EventCategory.whistle_hint.is_(True),
            Event.state.in_([State.accepted.value, State.dispatched.value, State.signed.value]),
        )
        .order_by(Event.id)
    ).all()
    per_street: dict[str, int] = {}
    whistled = 0
    street_desk = service.Actor(name="街道指挥中心（演示）", scope=WHOLE_DISTRICT)
    for event in open_multi:
        street = event.street_code or ""
        if per_street.get(street, 0) >= WHISTLES_PER_STREET:
            continue
        departments = sorted({"D-CG", "D-ZJ"} - {event.handling_unit_code or ""}) or ["D-CG"]
        service.blow_whistle(
            session, event, actor=street_desk, ground="many_departments", departments=departments
        )
        per_street[street] = per_street.get(street, 0) + 1
        whistled += 1
    deadlines = jobs.deadline_pass(session)
    lines.append(
        f"events: {whistled} whistled; deadlines: {deadlines.red} overdue (supervised from above), "
        f"{deadlines.yellow} due soon"
    )
    return lines
