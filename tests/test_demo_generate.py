"""The synthetic Nanshan world generator: reproducible, on target, and honest about its defects."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from gridgov.areas.crs import gcj02_to_wgs84_array
from gridgov.areas.synthesis import nanshan_layers
from gridgov.core import identifiers as core_ids
from gridgov.demo import schema, textmess
from gridgov.demo.generate import DEFAULT_AS_OF, WorldSummary, generate_world
from gridgov.demo.identifiers import org_code_check_char, resident_id_check_char, uscc_check_char

SCALE = 0.01


# The generated world's truth is judged by core's validators, as of the world's own date.
def is_valid_resident_id(value: str) -> bool:
    return core_ids.is_valid_resident_id(value, today=DEFAULT_AS_OF)


is_valid_uscc = core_ids.is_valid_credit_code
is_valid_org_code = core_ids.is_valid_org_code


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldSummary]:
    out = tmp_path_factory.mktemp("world_a")
    stages: list[str] = []
    summary = generate_world(out, scale=SCALE, seed=7, progress=lambda s, d, t: stages.append(s))
    assert {"buildings", "people", "rentals", "entities", "hotline", "grid_reports"} <= set(stages)
    return out, summary


@pytest.fixture(scope="module")
def manifest(world: tuple[Path, WorldSummary]) -> dict:  # type: ignore[type-arg]
    return json.loads((world[0] / "manifest.json").read_text(encoding="utf-8"))


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- determinism and totals


def test_same_seed_gives_identical_bytes(world: tuple[Path, WorldSummary], tmp_path: Path) -> None:
    again = generate_world(tmp_path / "b", scale=SCALE, seed=7)
    first, second = file_hashes(world[0]), file_hashes(tmp_path / "b")
    assert first.keys() == second.keys()
    assert "housing/rentals.xlsx" in first and "events/hotline_12345.xlsx" in first
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
    assert again.files == world[1].files


def test_different_seed_differs(world: tuple[Path, WorldSummary], tmp_path: Path) -> None:
    generate_world(tmp_path / "c", scale=SCALE, seed=8)
    first, other = file_hashes(world[0]), file_hashes(tmp_path / "c")
    for name in first:
        assert first[name] != other[name], name


def test_totals_match_published_figures(world: tuple[Path, WorldSummary], manifest: dict) -> None:  # type: ignore[type-arg]
    summary = world[1]
    for got, published in (
        (summary.people, 2_130_000),
        (summary.dwellings, 1_050_000),
        (summary.rented_dwellings, 600_000),
    ):
        assert abs(got - published * SCALE) <= max(1, 0.01 * published * SCALE)
    assert summary.buildings == round(52_500 * SCALE)
    assert summary.legal_entities == round(430_000 * SCALE)
    assert summary.events == round(450_000 * SCALE) + round(160_000 * SCALE)
    assert manifest["totals"]["people"] == summary.people
    assert manifest["scale"] == SCALE and manifest["seed"] == 7
    assert json.loads(summary.to_json())["rented_dwellings"] == summary.rented_dwellings
    # The files agree with the totals.
    dwellings = read_dicts(world[0] / "addresses" / "dwellings.csv")
    assert len(dwellings) == summary.dwellings
    assert Counter(d["use"] for d in dwellings)["rented"] == summary.rented_dwellings
    truth = read_dicts(world[0] / "population" / "residents_truth.csv")
    assert len({t["person_id"] for t in truth}) == summary.people


def test_manifest_lists_every_file_with_rows_and_hash(
    world: tuple[Path, WorldSummary], manifest: dict
) -> None:  # type: ignore[type-arg]
    root = world[0]
    hashes = file_hashes(root)
    del hashes["manifest.json"]
    assert set(manifest["files"]) == set(hashes)
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashes[name]
        assert entry["rows"] == world[1].files[name]
        if name.endswith(".csv"):
            assert entry["rows"] == len(read_csv(root / name)) - 1
    assert manifest["generator_version"]
    assert "buildings" in manifest["assumptions"]


# ---------------------------------------------------------------- geometry and the address library


def test_every_building_lies_in_the_grid_it_names(world: tuple[Path, WorldSummary]) -> None:
    grids = {g.code: g for g in nanshan_layers().grids}
    rows = read_dicts(world[0] / "addresses" / "standard_addresses.csv")
    assert len(rows) == world[1].buildings
    geoms = np.array([grids[r["grid_code"]].geometry for r in rows], dtype=object)
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    assert shapely.contains_xy(geoms, lon, lat).all()
    for r in rows:
        assert len(r["std_code"]) == 20 and r["std_code"].startswith(r["community_code"])
        assert r["grid_code"].startswith(r["community_code"]) and len(r["grid_code"]) == 15
        assert len(r["house_code_25"]) == 25 and r["house_code_25"].isdigit()
        assert r["address"].startswith("深圳市南山区" + r["street_name"])
    assert len({r["std_code"] for r in rows}) == len(rows)
    assert len({r["house_code_25"] for r in rows}) == len(rows)


def test_rooms_are_consistent_with_floors(world: tuple[Path, WorldSummary]) -> None:
    buildings = {r["std_code"]: r for r in read_dicts(world[0] / "addresses" / "standard_addresses.csv")}
    dwellings = read_dicts(world[0] / "addresses" / "dwellings.csv")
    per_building = Counter(d["std_code"] for d in dwellings)
    for code, b in buildings.items():
        assert per_building[code] == int(b["dwellings"])
    seen = set()
    for d in dwellings:
        floor, room = int(d["floor"]), int(d["room"])
        assert room // 100 == floor and room % 100 >= 1
        assert 1 <= floor <= int(buildings[d["std_code"]]["floors"])
        assert d["dwelling_code"].startswith(d["std_code"]) and len(d["dwelling_code"]) == 26
        assert d["dwelling_code"].endswith(f"{room:04d}")
        seen.add(d["dwelling_code"])
    assert len(seen) == len(dwellings)


# ---------------------------------------------------------------- identifiers


def test_generator_uses_core_check_characters() -> None:
    assert resident_id_check_char is core_ids.resident_id_check_char
    assert uscc_check_char is core_ids.credit_code_check_char
    assert org_code_check_char is core_ids.org_code_check_char


def test_identifier_checks_against_known_codes() -> None:
    assert is_valid_resident_id("11010519491231002X")
    assert not is_valid_resident_id("110105194912310021")
    assert not is_valid_resident_id(
        "11010519490231002" + resident_id_check_char("11010519490231002")
    )  # 2月31日
    assert not is_valid_resident_id("1101051949123100")
    assert resident_id_check_char("44030519900101123") in "0123456789X"
    assert is_valid_uscc("91350100M000100Y43")  # the example printed in GB 32100
    assert not is_valid_uscc("91350100M000100Y44")
    assert not is_valid_uscc("91350100MO00100Y43")  # O is not in the alphabet
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert org_code_check_char("D2143569") == "X" and is_valid_org_code("D2143569X")  # GB 11714's example
    assert is_valid_org_code("M000100Y4")  # the organisation code inside the GB 32100 example
    assert not is_valid_org_code("D21435691")


def test_resident_ids_valid_unless_flagged(world: tuple[Path, WorldSummary], manifest: dict) -> None:  # type: ignore[type-arg]
    feed = read_csv(world[0] / "population" / "residents_self_declared.csv")
    header, rows = feed[0], feed[1:]
    assert header == schema.headers("population/residents_self_declared")
    truth = read_dicts(world[0] / "population" / "residents_truth.csv")
    assert len(truth) == len(rows)
    invalid = 0
    for row, t in zip(rows, truth, strict=True):
        assert row[0] == t["record_id"]
        assert is_valid_resident_id(t["true_id_number"])
        if t["broken"]:
            continue
        valid = is_valid_resident_id(row[3])
        assert valid == (t["id_valid"] == "1"), (row, t)
        invalid += not valid
        if valid:
            assert row[3] == t["true_id_number"]
            assert row[5].replace("-", "") == row[3][6:14]
            assert (int(row[3][16]) % 2 == 1) == (row[4] == "男")
    stats = manifest["defects"]["population/residents_self_declared.csv"]
    assert stats["id_invalid"]["count"] == sum(t["id_valid"] == "0" for t in truth)
    assert 0.015 <= invalid / len(rows) <= 0.025


def test_landlord_ids_valid_unless_flagged(world: tuple[Path, WorldSummary]) -> None:
    from openpyxl import load_workbook

    wb = load_workbook(world[0] / "housing" / "rentals.xlsx", read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    assert list(rows[0]) == schema.headers("housing/rentals")
    truth = read_dicts(world[0] / "housing" / "rentals_truth.csv")
    assert len(truth) == len(rows) - 1
    for row, t in zip(rows[1:], truth, strict=True):
        if t["broken"]:
            continue
        assert is_valid_resident_id(str(row[3])) == (t["landlord_id_valid"] == "1")
        tenants = str(row[8]).split(";")
        assert len(tenants) == int(row[7]) == int(t["declared_occupants"]) <= int(t["actual_occupants"])
        assert all(is_valid_resident_id(x) for x in tenants)
        assert (t["occupancy_mismatch"] == "1") == (int(row[7]) != int(t["actual_occupants"]))


def test_credit_codes_valid_unless_flagged(world: tuple[Path, WorldSummary], manifest: dict) -> None:  # type: ignore[type-arg]
    feed = read_csv(world[0] / "entities" / "business_register.csv")
    assert feed[0] == schema.headers("entities/business_register")
    truth = read_dicts(world[0] / "entities" / "business_register_truth.csv")
    invalid = 0
    kinds = Counter()
    for row, t in zip(feed[1:], truth, strict=True):
        assert is_valid_uscc(t["true_credit_code"])
        assert t["true_credit_code"][2:8] == "440305"
        if t["broken"]:
            continue
        valid = is_valid_uscc(row[1])
        assert valid == (t["credit_valid"] == "1"), (row, t)
        invalid += not valid
        kinds[t["credit_defect"]] += 1
        assert (row[3] == "个体工商户") == (t["entity_kind"] == "sole_trader")
        assert row[1][1] == ("2" if t["entity_kind"] == "sole_trader" else "1") or not valid
    assert 0.005 <= invalid / (len(feed) - 1) <= 0.015
    assert manifest["defects"]["entities/business_register.csv"]["credit_invalid"]["count"] == sum(
        t["credit_valid"] == "0" for t in truth
    )
    assert len({t["true_credit_code"] for t in truth}) == world[1].legal_entities


# ---------------------------------------------------------------- defects and truth


FEEDS = (
    ("population/residents_self_declared.csv", "population/residents_truth.csv", "address_defects"),
    ("housing/rentals.xlsx", "housing/rentals_truth.csv", "address_defects"),
    ("entities/business_register.csv", "entities/business_register_truth.csv", "address_defects"),
    ("events/hotline_12345.xlsx", "events/hotline_12345_truth.csv", "address_defects"),
    ("events/grid_reports.csv", "events/grid_reports_truth.csv", "address_defects"),
)


@pytest.mark.parametrize(("feed", "truth_file", "defect_column"), FEEDS)
def test_injected_defect_fractions_match_manifest(
    world: tuple[Path, WorldSummary],
    manifest: dict,
    feed: str,
    truth_file: str,
    defect_column: str,  # type: ignore[type-arg]
) -> None:
    truth = read_dicts(world[0] / truth_file)
    stats = manifest["defects"][feed]
    rows = len(truth)
    assert stats["rows"] == rows == manifest["files"][feed]["rows"]
    duplicates = sum(bool(t["is_duplicate_of"]) for t in truth)
    broken = sum(bool(t["broken"]) for t in truth)
    assert stats["duplicate"]["count"] == duplicates
    assert stats["broken"]["count"] == broken
    assert stats["duplicate"]["fraction"] == round(duplicates / rows, 6)
    assert abs(duplicates / rows - 0.015) < 0.003
    assert abs(broken / rows - 0.005) < 0.002
    addresses = Counter(d for t in truth for d in t[defect_column].split(";") if d)
    for name, count in addresses.items():
        assert name in textmess.DEFECTS
        assert stats[f"address:{name}"]["count"] == count


def test_every_messy_address_has_its_standard_truth(world: tuple[Path, WorldSummary]) -> None:
    root = world[0]
    dwellings = {d["dwelling_code"]: d for d in read_dicts(root / "addresses" / "dwellings.csv")}
    buildings = {b["std_code"]: b for b in read_dicts(root / "addresses" / "standard_addresses.csv")}
    for truth_file, code_column, address_column in (
        ("population/residents_truth.csv", "true_dwelling_code", "true_address"),
        ("housing/rentals_truth.csv", "true_dwelling_code", "true_address"),
        ("entities/business_register_truth.csv", "operating_dwelling_code", "true_operating_address"),
    ):
        for t in read_dicts(root / truth_file):
            d = dwellings[t[code_column]]
            assert t[address_column] == d["address"]
    for truth_file in ("events/hotline_12345_truth.csv", "events/grid_reports_truth.csv"):
        for t in read_dicts(root / truth_file):
            assert buildings[t["true_std_code"]]["community_code"] == t["true_community_code"]


def test_duplicates_point_back_and_exact_ones_are_exact(world: tuple[Path, WorldSummary]) -> None:
    feed = read_csv(world[0] / "population" / "residents_self_declared.csv")[1:]
    truth = read_dicts(world[0] / "population" / "residents_truth.csv")
    index = {t["record_id"]: i for i, t in enumerate(truth)}
    kinds = Counter()
    for i, t in enumerate(truth):
        if not t["is_duplicate_of"]:
            continue
        j = index[t["is_duplicate_of"]]
        assert j < i and not truth[j]["is_duplicate_of"] and not truth[j]["broken"]
        assert truth[j]["person_id"] == t["person_id"]
        kinds[t["duplicate_kind"]] += 1
        if t["duplicate_kind"] == "exact":
            assert feed[i][1:] == feed[j][1:]
    assert kinds["exact"] > 0 and kinds["near"] > 0


def test_broken_rows_are_broken_as_recorded(world: tuple[Path, WorldSummary]) -> None:
    feed = read_csv(world[0] / "population" / "residents_self_declared.csv")
    width = len(feed[0])
    truth = read_dicts(world[0] / "population" / "residents_truth.csv")
    for row, t in zip(feed[1:], truth, strict=True):
        if t["broken"] == "wrong_column_count":
            assert len(row) != width
        else:
            assert len(row) == width
        if t["broken"] == "missing_required":
            assert "" in (row[2], row[8])


def test_events_are_located_in_their_true_grid(world: tuple[Path, WorldSummary]) -> None:
    grids = {g.code: g.geometry for g in nanshan_layers().grids}
    feed = read_csv(world[0] / "events" / "grid_reports.csv")
    header = feed[0]
    truth = read_dicts(world[0] / "events" / "grid_reports_truth.csv")
    lon_i, lat_i, crs_i, time_i = header.index("经度"), header.index("纬度"), header.index("坐标系"), 1
    checked = Counter()
    for row, t in zip(feed[1:], truth, strict=True):
        assert shapely.contains_xy(grids[t["true_grid_code"]], float(t["true_lon"]), float(t["true_lat"]))
        if t["broken"]:
            continue
        assert row[time_i][:10] <= DEFAULT_AS_OF.isoformat()
        if row[crs_i] == "GCJ-02":
            x, y = gcj02_to_wgs84_array(np.array([float(row[lon_i])]), np.array([float(row[lat_i])]))
            assert abs(x[0] - float(t["true_lon"])) < 2e-6 and abs(y[0] - float(t["true_lat"])) < 2e-6
            checked["gcj"] += 1
        elif row[crs_i] == "WGS84":
            assert (row[lon_i], row[lat_i]) == (t["true_lon"], t["true_lat"])
            checked["wgs"] += 1
        if t["category_mislabelled"] == "0" and not t["is_duplicate_of"]:
            assert (row[5], row[6]) == (t["true_major"], t["true_sub"])
    assert checked["gcj"] > 0 and checked["wgs"] > 0


def test_xlsx_files_open_in_openpyxl(world: tuple[Path, WorldSummary], manifest: dict) -> None:  # type: ignore[type-arg]
    from openpyxl import load_workbook

    for name, stem in (
        ("housing/rentals.xlsx", "housing/rentals"),
        ("events/hotline_12345.xlsx", "events/hotline_12345"),
    ):
        wb = load_workbook(world[0] / name)
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        # A broken row with an extra field widens the sheet: the header is padded with empty cells.
        assert header[: len(schema.headers(stem))] == schema.headers(stem)
        assert all(v is None for v in header[len(schema.headers(stem)) :])
        assert ws.max_row - 1 == manifest["files"][name]["rows"]
        assert wb.properties.created.year == 2020  # fixed, not "now"


# ---------------------------------------------------------------- text helpers


def test_chinese_numerals_and_messy_text_are_reproducible() -> None:
    import random

    assert [textmess.chinese_number(n) for n in (3, 10, 12, 20, 25, 105, 110, 120)] == [
        "三",
        "十",
        "十二",
        "二十",
        "二十五",
        "一百零五",
        "一百一十",
        "一百二十",
    ]
    assert textmess.chinese_digits("601") == "六零一"
    parts = textmess.Parts(
        street="南山街道",
        community="南园社区",
        road="向南路",
        road_no=49,
        site="南粤山庄",
        site_kind="estate",
        label="10栋",
    )
    assert textmess.standard_dwelling(parts, 0, 601) == "深圳市南山区南山街道向南路49号南粤山庄10栋601"
    a = [textmess.messy_dwelling(parts, 2, 601, random.Random(5), textmess.SELF_DECLARED) for _ in range(3)]
    b = [textmess.messy_dwelling(parts, 2, 601, random.Random(5), textmess.SELF_DECLARED) for _ in range(3)]
    assert a == b
    texts = {
        textmess.messy_dwelling(parts, 0, 601, random.Random(s), textmess.SELF_DECLARED)[0]
        for s in range(300)
    }
    assert "南粤山庄10-601" in texts or "南粤山庄10栋601" in texts
    assert len(texts) > 50


def test_scale_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_world(tmp_path, scale=0, seed=1)


def test_every_standard_address_text_names_one_place(world: tuple[Path, WorldSummary]) -> None:
    import collections
    import csv

    out, _ = world
    for name, key in (("standard_addresses.csv", "address"), ("dwellings.csv", "address")):
        with (out / "addresses" / name).open(encoding="utf-8-sig", newline="") as handle:
            texts = collections.Counter(row[key] for row in csv.DictReader(handle))
        repeated = [text for text, count in texts.items() if count > 1]
        assert not repeated, f"{name}: {repeated[:3]}"
