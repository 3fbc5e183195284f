"""The seed event taxonomy and org units: what DESIGN.md §5 asks for, template expansion, validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gridgov.areas.synthesis import read_divisions
from gridgov.events.taxonomy import (
    CATEGORIES_PATH,
    ORG_UNITS_PATH,
    MajorClass,
    OrgUnitSeed,
    iter_subtypes,
    load_categories,
    load_org_units,
    load_seed,
    subtypes_by_code,
)

DISTRICT_CENTRE = "C-440305"


@pytest.fixture(scope="module")
def streets() -> list[tuple[str, str]]:
    return [(d.code, d.name) for d in read_divisions() if d.level == "street"]


@pytest.fixture(scope="module")
def communities() -> list[tuple[str, str, str]]:
    return [(d.code, d.name, d.parent_code) for d in read_divisions() if d.level == "community"]


@pytest.fixture(scope="module")
def categories() -> list[MajorClass]:
    return load_categories()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# The shipped seed


def test_seed_has_every_major_class_of_the_design(categories: list[MajorClass]) -> None:
    by_name = {m.name: m for m in categories}
    urban = ["市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件", "其他"]
    social = ["矛盾纠纷", "安全隐患", "治安", "公共卫生", "民生服务", "生态环境"]
    assert list(by_name) == urban + social
    assert all(by_name[n].domain == "urban" for n in urban)
    assert all(by_name[n].domain == "social" for n in social)
    assert [m.code for m in categories] == [f"{i:02d}" for i in range(1, 13)]
    hazards = [s.name for s in by_name["安全隐患"].subtypes]
    for kind in ("消防", "燃气", "危房", "三小场所"):
        assert any(kind in name for name in hazards), kind


def test_seed_has_about_sixty_well_formed_subtypes(categories: list[MajorClass]) -> None:
    subtypes = list(iter_subtypes(categories))
    assert 50 <= len(subtypes) <= 80
    assert len({s.code for s in subtypes}) == len(subtypes)
    for major in categories:
        assert major.subtypes
        for subtype in major.subtypes:
            assert subtype.major_code == major.code and len(subtype.code) == 4
            assert subtype.limit > 0 and subtype.closing and subtype.name_en
    assert any(s.urgent for s in subtypes) and any(s.whistle_hint for s in subtypes)
    assert {s.level for s in subtypes} == {"community", "street", "district"}


def test_design_examples_have_the_stated_limits(categories: list[MajorClass]) -> None:
    by_name = {s.name: s for s in iter_subtypes(categories)}
    expected = {
        "暴露垃圾": (4, "working_hours"),
        "道路不洁": (2, "working_hours"),
        "违法搭建（制止）": (4, "working_hours"),
        "违法搭建（拆除）": (20, "working_days"),
        "绿地养护": (5, "working_days"),
    }
    for name, (limit, unit) in expected.items():
        assert (by_name[name].limit, by_name[name].limit_unit) == (limit, unit), name
    for name in ("井盖缺失", "占道经营", "乱堆物料", "非法小广告", "施工扰民", "油罐车违停", "河道污染"):
        assert name in by_name, name
    assert by_name["油罐车违停"].whistle_hint and by_name["河道污染"].whistle_hint


def test_seed_loads_and_cross_checks_with_real_streets_and_communities(
    streets: list[tuple[str, str]], communities: list[tuple[str, str, str]]
) -> None:
    seed = load_seed(streets, communities)
    codes = {u.code for u in seed.org_units}
    units = {u.code: u for u in seed.org_units}
    for subtype in iter_subtypes(seed.categories):
        for community, _, street in communities:
            department = subtype.department_for(street, community)
            assert department in codes
            assert units[department].level == subtype.level
    # Without communities the templated workstation departments are still checked, as templates.
    assert len(load_seed(streets).org_units) == len(seed.org_units) - len(communities)


def test_department_for_resolves_street_and_community_templates(categories: list[MajorClass]) -> None:
    by_code = subtypes_by_code(categories)
    rubbish = next(s for s in by_code.values() if s.name == "暴露垃圾")
    assert rubbish.department_for("440305007000") == "SD-440305007000-CG"
    dispute = next(s for s in by_code.values() if s.name == "邻里纠纷")
    assert dispute.department_for("440305007000", "440305007003") == "W-440305007003"
    with pytest.raises(ValueError, match="needs a community"):
        dispute.department_for("440305007000")


# ---------------------------------------------------------------------------------------------------------
# Org units: template expansion


def test_district_units_and_eight_street_centres(streets: list[tuple[str, str]]) -> None:
    assert len(streets) == 8
    assert {name for _, name in streets} == {
        f"{n}街道" for n in ["南头", "南山", "沙河", "蛇口", "招商", "粤海", "桃源", "西丽"]
    }
    units = load_org_units(streets)
    by_code = {u.code: u for u in units}
    assert len(by_code) == len(units)
    centre = by_code[DISTRICT_CENTRE]
    assert (centre.kind, centre.level, centre.parent) == ("command_centre", "district", None)
    street_centres = [u for u in units if u.kind == "command_centre" and u.level == "street"]
    assert len(street_centres) == 8
    assert all(u.parent == DISTRICT_CENTRE for u in street_centres)
    assert {u.area_code for u in street_centres} == {code for code, _ in streets}
    yuehai = by_code["S-440305007000"]
    assert yuehai.name.startswith("粤海街道") and yuehai.name_en.startswith("Yuehai Subdistrict")
    district_departments = {u.name for u in units if u.kind == "department" and u.level == "district"}
    for fragment in (
        "城市管理和综合执法",
        "住房和建设",
        "应急管理",
        "交通运输",
        "市场监督",
        "生态环境",
        "水务",
        "公安",
    ):
        assert any(fragment in name for name in district_departments), fragment
    assert all(u.parent == DISTRICT_CENTRE for u in units if u.kind == "department" and u.level == "district")
    # Street departments: the same few kinds in every street, under that street's centre.
    street_departments = [u for u in units if u.kind == "department" and u.level == "street"]
    assert len(street_departments) % 8 == 0 and 2 <= len(street_departments) // 8 <= 3
    assert by_code["SD-440305007000-CG"].parent == "S-440305007000"
    assert all(u.parent == f"S-{u.area_code}" for u in street_departments)
    assert not [u for u in units if u.kind == "workstation"]


def test_one_workstation_per_community_under_its_street_centre(
    streets: list[tuple[str, str]], communities: list[tuple[str, str, str]]
) -> None:
    units = load_org_units(streets, communities)
    workstations = [u for u in units if u.kind == "workstation"]
    assert len(workstations) == len(communities) == 107
    by_code = {u.code: u for u in units}
    for code, name, street in communities:
        station = by_code[f"W-{code}"]
        assert (station.level, station.parent, station.area_code) == ("community", f"S-{street}", code)
        assert by_code[f"S-{street}"].kind == "command_centre"
        assert station.name == name.removesuffix("居委会") + "工作站"
    assert by_code["W-440305001001"].name == "南头城社区工作站"
    assert by_code["W-440305001001"].name_en == "Nantoucheng Community Workstation"
    assert by_code["W-440305008006"].name_en == "Changyuan Community Workstation"  # 长, not zhang


def test_community_of_an_unknown_street_is_refused(streets: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match=r"community 440305999001 \(某社区居委会\).*440305999000"):
        load_org_units(streets, [("440305999001", "某社区居委会", "440305999000")])


# ---------------------------------------------------------------------------------------------------------
# Validation errors name the offending entry

CATEGORIES = """\
major_classes:
  - code: "01"
    name: 市容环境
    name_en: City appearance
    domain: urban
    subtypes:
      - {code: "0101", name: 暴露垃圾, name_en: Exposed rubbish, level: street, department: "SD-{street}-CG",
         limit: 4, limit_unit: working_hours, closing: 清理完毕}
      - {code: "0102", name: 道路不洁, name_en: Unclean road, level: district, department: D-CG,
         limit: 2, limit_unit: working_hours, closing: 清扫干净}
"""

ORG_UNITS = """\
units:
  - {code: C-440305, name: 区中心, name_en: District centre, kind: command_centre, level: district,
     parent: null}
  - {code: D-CG, name: 城管局, name_en: Urban management, kind: department, level: district, parent: C-440305}
per_street:
  - {code: "S-{street}", name: "{street_name}中心", name_en: "{street_name_en} centre", kind: command_centre,
     level: street, parent: C-440305}
  - {code: "SD-{street}-CG", name: "{street_name}执法队", name_en: "{street_name_en} team", kind: department,
     level: street, parent: "S-{street}"}
"""

STREETS = [("440305007000", "粤海街道"), ("440305008000", "桃源街道")]


def test_small_files_load(tmp_path: Path) -> None:
    categories = load_categories(_write(tmp_path, "categories.yaml", CATEGORIES))
    units = load_org_units(STREETS, path=_write(tmp_path, "org_units.yaml", ORG_UNITS), categories=categories)
    assert [s.code for s in iter_subtypes(categories)] == ["0101", "0102"]
    assert [u.code for u in units] == [
        "C-440305",
        "D-CG",
        "S-440305007000",
        "SD-440305007000-CG",
        "S-440305008000",
        "SD-440305008000-CG",
    ]
    assert units[2] == OrgUnitSeed(
        "S-440305007000", "粤海街道中心", "Yuehai Subdistrict centre", "command_centre", "street", "C-440305",
        "440305007000",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('code: "0102"', 'code: "0101"', r"subtype 0101 \(道路不洁\): duplicate subtype code 0101"),
        ('code: "0102"', 'code: "0202"', r"subtype 0202 \(道路不洁\): code 0202 does not start with .* 01"),
        ("level: district", "level: province", r"subtype 0102 \(道路不洁\): level must be one of"),
        ("limit: 2,", "limit: 0,", r"subtype 0102 \(道路不洁\): limit must be a number > 0"),
        ("limit_unit: working_hours, closing: 清扫", "limit_unit: hours, closing: 清扫", r"0102.*limit_unit"),
        ("domain: urban", "domain: rural", r"major class 01 \(市容环境\): domain must be one of"),
        ('code: "01"', "code: 1", r"major class 1 \(市容环境\): code must be a quoted string of 2 digits"),
        ("closing: 清扫干净", "closing: 清扫干净, colour: red", r"0102 \(道路不洁\): unknown field colour"),
        ("department: D-CG", 'department: "SD-{grid}-CG"', r"0102 \(道路不洁\): department .*uses \{grid\}"),
    ],
)
def test_bad_categories_are_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in CATEGORIES
    path = _write(tmp_path, "categories.yaml", CATEGORIES.replace(old, new, 1))
    with pytest.raises(ValueError, match=rf"categories\.yaml: .*{message}"):
        load_categories(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "department: D-CG",
            "department: D-XX",
            r"subtype 0102 \(道路不洁\): department D-XX is not an org unit",
        ),
        (
            '"SD-{street}-CG"',
            '"SD-{street}-AJ"',
            r"subtype 0101 \(暴露垃圾\): department SD-\{street\}-AJ is not",
        ),
        (
            "level: district, department: D-CG",
            "level: street, department: D-CG",
            r"0102.*district-level unit",
        ),
    ],
)
def test_unknown_or_misplaced_department_is_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    categories = load_categories(_write(tmp_path, "categories.yaml", CATEGORIES.replace(old, new, 1)))
    org_units = _write(tmp_path, "org_units.yaml", ORG_UNITS)
    with pytest.raises(ValueError, match=message):
        load_org_units(STREETS, path=org_units, categories=categories)
    with pytest.raises(ValueError, match=message):  # also as templates, without any street
        load_org_units([], path=org_units, categories=categories)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("code: D-CG", "code: C-440305", r"unit C-440305 \(城管局\): duplicate code C-440305"),
        (
            "level: district, parent: C-440305}",
            "level: county, parent: C-440305}",
            r"unit D-CG.*level must be one",
        ),
        (
            "kind: department, level: district",
            "kind: office, level: district",
            r"unit D-CG.*kind must be one of",
        ),
        ("level: district, parent: C-440305}", "level: district, parent: C-9}", r"D-CG.*parent C-9 is not"),
        ('parent: "S-{street}"', "parent: D-CG", r"SD-440305007000-CG.*parent D-CG is a department"),
        ("code: D-CG", "code: D CG", r"unit D CG \(城管局\): code must be ASCII"),
        ('code: "SD-{street}-CG"', "code: SD-CG", r"template SD-CG.*must contain \{street\}"),
        ('name: "{street_name}中心"', 'name: "{town}中心"', r"template S-\{street\}.*uses \{town\}"),
    ],
)
def test_bad_org_units_are_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in ORG_UNITS
    path = _write(tmp_path, "org_units.yaml", ORG_UNITS.replace(old, new, 1))
    with pytest.raises(ValueError, match=rf"org_units\.yaml: .*{message}"):
        load_org_units(STREETS, path=path)


def test_duplicate_street_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"street 440305007000 \(粤海街道\): street given twice"):
        load_org_units([*STREETS, STREETS[0]], path=_write(tmp_path, "org_units.yaml", ORG_UNITS))


def test_default_paths_point_at_the_shipped_files() -> None:
    assert CATEGORIES_PATH.is_file() and ORG_UNITS_PATH.is_file()
    assert CATEGORIES_PATH.parent.name == "data" and CATEGORIES_PATH.parent.parent.name == "events"


def test_aliases_name_one_type_each(tmp_path: Path) -> None:
    from gridgov.events.taxonomy import load_categories, subtypes_by_name

    by_name = subtypes_by_name(load_categories())
    # Names the synthetic world's feeds (and 12345) use for our types.
    assert by_name["井盖缺损"].name == "井盖缺失" and by_name["违法搭建"].code == "0303"
    assert by_name["停水停电"].code == "1106"
    clash = tmp_path / "clash.yaml"
    clash.write_text(
        """major_classes:
  - code: "01"
    name: 市容环境
    name_en: City appearance
    domain: urban
    subtypes:
      - {code: "0101", name: 暴露垃圾, name_en: Exposed rubbish, level: street, department: D-CG, limit: 4,
         limit_unit: working_hours, closing: 清理完毕, aliases: [道路不洁]}
      - {code: "0102", name: 道路不洁, name_en: Dirty road, level: street, department: D-CG, limit: 2,
         limit_unit: working_hours, closing: 清扫完毕}
""",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="duplicate subtype name 道路不洁"):
        load_categories(clash)
