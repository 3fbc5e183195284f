"""The command line against a real database on each backend."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from gridgov.cli.main import app
from gridgov.core.db import get_engine
from gridgov.core.migrate import head_revision
from gridgov.core.settings import get_settings

runner = CliRunner()


def test_stats_json_reports_the_counts(cli_env: None) -> None:
    result = runner.invoke(app, ["areas", "stats", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["streets"], stats["communities"], stats["grids"]) == (8, 107, 1610)
    assert stats["synthetic_geometry"] is True


def test_locate_an_anchor_and_hong_kong(cli_env: None) -> None:
    inside = runner.invoke(app, ["areas", "locate", "113.9248", "22.530853", "--json"])
    assert inside.exit_code == 0, inside.output
    assert json.loads(inside.stdout)["community"]["code"] == "440305002007"
    outside = runner.invoke(app, ["areas", "locate", "114.1694", "22.3193", "--json"])
    assert outside.exit_code == 3
    assert json.loads(outside.stdout)["reason"] == "outside the district"
    bad = runner.invoke(app, ["areas", "locate", "113.9", "22.5", "--crs", "bd09"])
    assert bad.exit_code == 2  # rejected by the option's choices, with usage help


def test_export_csv_xlsx_geojson(cli_env: None, tmp_path: Path) -> None:
    for name, level in (
        ("grids.csv", "grid"),
        ("communities.xlsx", "community"),
        ("streets.geojson", "street"),
    ):
        result = runner.invoke(app, ["areas", "export", "-o", str(tmp_path / name), "--level", level])
        assert result.exit_code == 0, result.output
    with (tmp_path / "grids.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1610 and rows[0]["synthetic"] == "synthetic"
    sheet = load_workbook(tmp_path / "communities.xlsx").active
    assert sheet is not None and sheet.max_row == 108  # header + 107
    streets = json.loads((tmp_path / "streets.geojson").read_text(encoding="utf-8"))
    assert len(streets["features"]) == 8
    unknown = runner.invoke(app, ["areas", "export", "-o", str(tmp_path / "grids.txt")])
    assert unknown.exit_code == 2


def test_db_upgrade_is_idempotent(cli_env: None) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert head_revision(get_engine()) in result.stdout


def _tree_digest(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_demo_generate_twice_gives_identical_files(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        result = runner.invoke(
            app,
            ["demo", "generate", "--scale", "0.01", "--seed", "1", "--out", str(tmp_path / name), "--json"],
        )
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
    assert outputs[0]["people"] == 21_300 and outputs[0]["dwellings"] == 10_500
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert (
        runner.invoke(app, ["demo", "generate", "--scale", "0", "--out", str(tmp_path / "c")]).exit_code == 2
    )


def test_demo_load_from_a_world_and_if_empty(
    backend: str,
    empty_engine_factory: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    engine = empty_engine_factory(backend)
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        not_a_world = runner.invoke(app, ["demo", "load", "--world", str(tmp_path)])
        assert not_a_world.exit_code == 1 and "manifest.json" in not_a_world.output
        world = tmp_path / "world"
        assert runner.invoke(app, ["demo", "generate", "--out", str(world)]).exit_code == 0
        # (--no-events, --no-registry: the historical events and the block data load in
        # test_cli_accounts.py, and are tested on their own in test_events_import.py and test_ingest_*.py)
        loaded = runner.invoke(app, ["demo", "load", "--world", str(world), "--no-events", "--no-registry"])
        assert loaded.exit_code == 0, loaded.output
        assert "8 streets, 107 communities, 1610 grids" in loaded.output
        # (Rich wraps long lines to the terminal's width: compare with the line breaks undone.)
        said = " ".join(loaded.output.split())  # (D-CG exists already: the demo department belongs to it)
        assert "67 event types" in said and "156 handling units" in said, said
        # Each step is announced as it runs, and said done (the full list, block data and events included,
        # in test_cli_accounts.py).
        done = [line[2:].rsplit(" (", 1)[0] for line in loaded.output.splitlines() if line.startswith("✓ ")]
        assert done == [
            "areas: streets, communities and grids",
            "address library: buildings",
            "address library: dwellings",
            "demo accounts",
            "event types and handling units",
        ], loaded.output
        again = runner.invoke(app, ["demo", "load", "--if-empty"])
        assert again.exit_code == 0 and "already loaded" in again.output
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()


VAL_PAIRS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "address" / "sz_matching" / "val_pairs.tsv"
)


def test_a_library_from_another_district_imports_as_lines_and_matches(
    empty_engine_factory: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    require_file: Callable[[Path], Path],
) -> None:
    """`address import --format lines` then `address match` on the Shenzhen pairs (Bao'an, Longgang, …):
    areas outside our hierarchy are kept as text, and the free texts find their standard address."""
    require_file(VAL_PAIRS)
    engine = empty_engine_factory("sqlite")
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    get_engine.cache_clear()
    pairs = []
    with VAL_PAIRS.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2] == "1":
                pairs.append((parts[0], parts[1]))
            if len(pairs) == 400:
                break
    library = tmp_path / "library.txt"
    library.write_text("\n".join(sorted({std for _free, std in pairs})) + "\n", encoding="utf-8")
    queries = tmp_path / "queries.csv"
    with queries.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["n", "地址"])
        writer.writerows((n, free) for n, (free, _std) in enumerate(pairs))
    try:
        imported = runner.invoke(app, ["address", "import", str(library), "--format", "lines"])
        assert imported.exit_code == 0, imported.output
        out = tmp_path / "out.csv"
        matched = runner.invoke(
            app, ["address", "match", str(queries), "--column", "地址", "-o", str(out), "--workers", "2"]
        )
        assert matched.exit_code == 0, matched.output
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["n"]) for r in rows] == list(range(len(pairs)))
    right = sum(r["std_address"] == std for r, (_free, std) in zip(rows, pairs, strict=True))
    assert right / len(pairs) >= 0.995, right / len(pairs)  # measured 400/400: a floor just below
    assert "400 rows" in matched.output


def test_a_file_that_cannot_be_opened_is_a_clear_error(cli_env: None, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    for command in (
        ["events", "import", str(missing)],
        ["address", "match", str(missing), "--column", "地址", "-o", str(tmp_path / "out.csv")],
        ["address", "import", str(missing)],
        ["events", "import", str(tmp_path)],  # a folder, not a file
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, (command, result.output)
        assert "error" in result.output and "Traceback" not in result.output, command
        assert result.exception is None or isinstance(result.exception, SystemExit), command
