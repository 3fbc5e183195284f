"""Generate the synthetic Nanshan world: the files departments would hand over, with ground truth.

``generate_world(out_dir, scale=…, seed=…)`` writes::

    addresses/standard_addresses.csv     the address library: one row per building (clean)
    addresses/dwellings.csv              one row per dwelling / commercial unit (clean)
    population/residents_self_declared.csv   自主申报 + 门禁采集 rows, messy    + residents_truth.csv
    housing/rentals.xlsx (or .csv)       出租屋登记, messy                     + rentals_truth.csv
    entities/business_register.csv       商事主体登记, messy                   + business_register_truth.csv
    events/hotline_12345.xlsx (or .csv)  12345 work orders                     + hotline_12345_truth.csv
    events/grid_reports.csv              grid / app / video reports            + grid_reports_truth.csv
    manifest.json                        scale, seed, version, per-file rows + sha256, totals,
                                         assumptions, injected-defect counts and fractions

Totals at scale 1.0 (published for Nanshan): 2,130,000 people; 1,050,000 dwellings, 600,000
rented. Assumptions where nothing is published: 52,500 buildings (~20 dwellings each: a mix of
urban-village houses, estate towers and blocks, villas, 商住楼, offices, shops, factories; see
``gridgov.demo.world``); 430,000 legal entities; 450,000 grid-system reports and 160,000 hotline
orders in the 12 months up to ``as_of``. Counts scale linearly (rounded), so scale 0.01 has
21,300 people, 10,500 dwellings (6,000 rented), 525 buildings, 4,300 entities.

Reproducibility: one ``numpy.random.Generator(PCG64)`` per feed, spawned from
``SeedSequence(seed)``, so feeds are independent of each other's draws; no output depends on set
or dict iteration order or on hash randomisation; XLSX files are normalised (fixed zip and
document timestamps). The same seed and scale give the same bytes. The event window ends at
``as_of`` (a fixed default, not "today", for the same reason).

Encoding: CSV is UTF-8 with BOM and CRLF (what Excel on a Chinese desktop opens correctly);
department feeds have the Chinese headers their systems export (``gridgov.demo.schema`` maps them
to English keys); the address library and the truth files have English headers.
XLSX is written only up to ``writers.XLSX_MAX_ROWS`` (200,000) rows — above that openpyxl takes
minutes — so at scale 1.0 the 600k-row rental feed is a CSV while the 160k-row hotline export
stays XLSX.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from gridgov.core.files import sha256_of
from gridgov.demo import entities, events, housing, population, world
from gridgov.demo import rows as rw
from gridgov.demo.addresses import write_addresses
from gridgov.demo.persons import IdRegistry
from gridgov.demo.writers import XLSX_MAX_ROWS

GENERATOR_VERSION = "1.0.0"
DEFAULT_AS_OF = date(2026, 10, 31)
FEEDS = ("world", "people", "rentals", "entities", "hotline", "grid_reports")

Progress = Callable[[str, int, int], None]


@dataclass
class WorldSummary:
    out_dir: str
    scale: float
    seed: int
    as_of: str
    people: int
    dwellings: int
    rented_dwellings: int
    buildings: int
    legal_entities: int
    events: int
    files: dict[str, int] = field(default_factory=dict)  # relative path → data rows

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


ASSUMPTIONS = {
    "people": "2,130,000 at scale 1.0 (published); households: owner-occupied 1 + ~1.85, rented village room "
    "1 + ~0.55, rented flat 1 + ~1.25, 0.5% of rentals are group rentals (~8 people)",
    "dwellings": "1,050,000 at scale 1.0 (published), 600,000 rented (published); "
    "vacancy 5.5% of residential; commercial units (shops, offices, factory floors) are counted "
    "as dwellings with use 'commercial'",
    "buildings": "52,500 at scale 1.0 (~20 dwellings each): village 52%, estate tower 9%, mid-rise 7%, "
    "villa 3%, 商住楼 6%, office 3%, shop building 5%, industrial 15% of buildings",
    "buildings_per_grid": "multinomial over grids with probability ∝ density_weight × area",
    "legal_entities": "430,000 at scale 1.0: 75% companies, 25% sole traders; 20% of companies registered "
    "at a 前海 secretary address; status 84% 存续 / 12% 注销 / 4% 吊销",
    "events": "per year at scale 1.0: 450,000 grid-system reports, 160,000 12345 hotline orders",
    "registered_share": "70% of owner-occupier households and 10% of tenant households are 户籍",
    "as_of": "events fall in the 365 days up to as_of; move-in and contract dates end at as_of",
    "csv": "UTF-8 with BOM, CRLF line ends; Chinese headers on department feeds, English on library/truth",
    "xlsx_max_rows": XLSX_MAX_ROWS,
}


def generate_world(
    out_dir: Path, *, scale: float, seed: int, progress: Progress | None = None, as_of: date = DEFAULT_AS_OF
) -> WorldSummary:
    """Generate every feed into ``out_dir`` (replacing what a previous run left there)."""
    if not (0 < scale <= 5):
        raise ValueError(f"scale must be in (0, 5], got {scale}")
    from gridgov.areas.synthesis import nanshan_layers

    out_dir = Path(out_dir)
    for sub in ("addresses", "population", "housing", "entities", "events"):
        if (out_dir / sub).exists():
            shutil.rmtree(out_dir / sub)
    out_dir.mkdir(parents=True, exist_ok=True)

    def tick(stage: str, done: int, total: int) -> None:
        if progress:
            progress(stage, done, total)

    streams = {
        name: np.random.Generator(np.random.PCG64(s))
        for name, s in zip(FEEDS, np.random.SeedSequence(seed).spawn(len(FEEDS)), strict=True)
    }
    tick("areas", 0, 1)
    layers = nanshan_layers()
    tick("areas", 1, 1)
    the_world = world.build_world(layers, scale=scale, rng=streams["world"], progress=tick)
    write_addresses(the_world, out_dir, progress=tick)

    registry = IdRegistry()
    pop = population.build_population(
        the_world, scale=scale, rng=streams["people"], registry=registry, as_of=as_of
    )
    defects: dict[str, object] = {}
    defects["population/residents_self_declared.csv"] = population.write_residents(
        the_world, pop, out_dir, rng=streams["people"], as_of=as_of, progress=tick
    )
    rentals = housing.write_rentals(
        the_world, pop, out_dir, rng=streams["rentals"], registry=registry, as_of=as_of, progress=tick
    )
    defects[f"housing/{rentals['file']}"] = rentals
    defects["entities/business_register.csv"] = entities.write_entities(
        the_world,
        out_dir,
        scale=scale,
        rng=streams["entities"],
        registry=registry,
        as_of=as_of,
        progress=tick,
    )
    n_events = 0
    for kind, stream in (("hotline", "hotline"), ("grid", "grid_reports")):
        stats = events.write_events(
            the_world, pop, out_dir, scale=scale, kind=kind, rng=streams[stream], as_of=as_of, progress=tick
        )
        defects[f"events/{stats['file']}"] = stats
        n_events += int(stats["events"])  # type: ignore[call-overload]

    tick("manifest", 0, 1)
    files: dict[str, dict[str, object]] = {}
    row_counts: dict[str, int] = {}
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != "manifest.json"):
        rel = path.relative_to(out_dir).as_posix()
        # XLSX row counts come from the writers (re-reading a 160k-row sheet would take seconds).
        rows = int(defects[rel]["rows"]) if path.suffix == ".xlsx" else _count_rows(path)  # type: ignore[index]
        row_counts[rel] = rows
        files[rel] = {"rows": rows, "bytes": path.stat().st_size, "sha256": sha256_of(path)}
    summary = WorldSummary(
        out_dir=str(out_dir),
        scale=scale,
        seed=seed,
        as_of=as_of.isoformat(),
        people=pop.n,
        dwellings=the_world.n_dwellings,
        rented_dwellings=int((the_world.d_use == world.USE_RENTED).sum()),
        buildings=the_world.n_buildings,
        legal_entities=world.scaled(entities.ENTITIES_TOTAL, scale),
        events=n_events,
        files=row_counts,
    )
    manifest = {
        "generator": "gridgov.demo.generate",
        "generator_version": GENERATOR_VERSION,
        "scale": scale,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "areas_version": layers.version,
        "totals": {
            "people": summary.people,
            "dwellings": summary.dwellings,
            "rented_dwellings": summary.rented_dwellings,
            "buildings": summary.buildings,
            "legal_entities": summary.legal_entities,
            "events": summary.events,
            "dwelling_uses": {
                u: int((the_world.d_use == i).sum()) for i, u in enumerate(world.DWELLING_USES)
            },
            "building_kinds": {k: int((the_world.b_kind == i).sum()) for i, k in enumerate(world.KINDS)},
            "registered_people": int(pop.registered.sum()),
            "group_rentals": int(pop.group_rental.sum()),
        },
        "published_targets_at_scale_1": {
            "people": world.PEOPLE_TOTAL,
            "dwellings": world.DWELLINGS_TOTAL,
            "rented_dwellings": world.RENTED_TOTAL,
        },
        "assumptions": ASSUMPTIONS,
        "defect_rates": {
            "duplicate": rw.DUPLICATE_RATE,
            "broken": rw.BROKEN_RATE,
            "invalid_resident_id": rw.INVALID_ID_RATE,
            "invalid_credit_code": rw.INVALID_CREDIT_RATE,
            "category_mislabelled_hotline": events.MISLABEL_HOTLINE,
            "category_mislabelled_grid": events.MISLABEL_GRID,
        },
        "defects": defects,
        "files": files,
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    tick("manifest", 1, 1)
    return summary


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value)!r}")


def _count_rows(path: Path) -> int:
    """CSV data rows (header excluded): physical lines, as no field contains a line break."""
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) - 1
