"""The account, key and audit commands, end to end on a file database."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gridgov.accounts import service
from gridgov.cli.main import app
from gridgov.core import crypto
from gridgov.core.db import get_engine, make_engine, session_factory
from gridgov.core.settings import get_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh var dir with its own SQLite database and key file; the demo world loaded (once per module)."""
    tmp_path = tmp_path_factory.mktemp("cli-world")
    # The area synthesis cache is expensive: reuse the suite's.
    cache = Path(str(get_settings().var_dir)) / "cache"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("GRIDGOV_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("GRIDGOV_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'gridgov.sqlite3'}")
        monkeypatch.delenv("GRIDGOV_SECRET_KEY", raising=False)
        monkeypatch.delenv("GRIDGOV_KEY_FILE", raising=False)
        for cleared in (get_settings, get_engine, crypto.get_keyring):
            cleared.cache_clear()
        if cache.exists():
            shutil.copytree(cache, tmp_path / "var" / "cache")
        world = tmp_path / "world"
        assert runner.invoke(app, ["demo", "generate", "--out", str(world)]).exit_code == 0
        loaded = runner.invoke(app, ["demo", "load", "--world", str(world)])
        assert loaded.exit_code == 0, loaded.output
        said = " ".join(loaded.output.split())
        # The block data went in through the import pipeline, bad rows quarantined; only truth files and
        # nothing else of the world is left out.
        for source in (
            "housing.buildings",
            "housing.dwellings",
            "population.self_declared",
            "housing.rentals",
        ):
            assert f"registry {source}:" in said, said
        assert "entities.business_register" in said and "not loadable yet" not in said, said
        assert "verification tasks:" in said and "verification tasks: 0 created" not in said, said
        (tmp_path / "var" / "load-output.txt").write_text(loaded.output, encoding="utf-8")
        yield tmp_path / "var"
    for cleared in (get_settings, get_engine, crypto.get_keyring):
        cleared.cache_clear()


def _scalars(engine: Engine, sql: str) -> list[object]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text(sql))]


def _engine(var: Path) -> Engine:
    return make_engine(f"sqlite:///{var / 'gridgov.sqlite3'}")


def test_demo_users_json_lists_one_account_per_role(cli_world: Path) -> None:
    result = runner.invoke(app, ["demo", "users", "--json"])
    assert result.exit_code == 0, result.output
    accounts = json.loads(result.stdout)
    assert {a["role"] for a in accounts} == {
        "admin",
        "district_operator",
        "street_operator",
        "community_staff",
        "grid_worker",
        "department_handler",
        "contractor",
        "auditor",
    }
    assert all(set(a) == {"username", "password", "role", "scope"} for a in accounts)
    community = next(a for a in accounts if a["role"] == "community_staff")
    # 科技园社区 holds no verification tasks in this world (scale 0.01, seed 1): the demo community is the
    # one of 粤海街道 with the most, 龙城社区 (55 of the street's 198).
    assert community["scope"] == {"level": "community", "codes": ["440305007008"]}
    # The printed passwords work.
    engine = _engine(cli_world)
    with session_factory(engine)() as session:
        assert (
            service.authenticate(session, community["username"], community["password"]).role
            == "community_staff"
        )
    assert (cli_world / "demo-accounts.json").stat().st_mode & 0o077 == 0


def test_demo_load_announces_each_step(cli_world: Path) -> None:
    """The load takes minutes: each step is announced as it begins and said done with its time."""
    output = (cli_world / "load-output.txt").read_text(encoding="utf-8").splitlines()
    begun = [line[2:].removesuffix(" …") for line in output if line.startswith("▸ ")]
    done = [line[2:].rsplit(" (", 1)[0] for line in output if line.startswith("✓ ")]
    steps = [
        "areas: streets, communities and grids",
        "address library: buildings",
        "address library: dwellings",
        "demo accounts",
        "event types and handling units",
        "block data: housing.buildings (standard_addresses.csv)",
        "block data: housing.dwellings (dwellings.csv)",
        "block data: population.self_declared (residents_self_declared.csv)",
        "block data: housing.rentals (rentals.xlsx)",
        "block data: entities.business_register (business_register.csv)",
        "verification tasks: the detection rules",
        "demo accounts: placing the community and grid accounts where the tasks are",
        "events: hotline_12345.xlsx (filed at their own times, flows replayed)",
        "events: grid_reports.csv (filed at their own times, flows replayed)",
        "events: whistles and the deadline pass",
    ]
    assert begun == steps and done == steps, output


def test_the_demo_community_and_grid_worker_have_verification_tasks(cli_world: Path) -> None:
    """After `gridgov demo load` the demo community's and the demo grid worker's task lists are not empty:
    their accounts work where the load made work (in this world 科技园社区 has none)."""
    from gridgov.tasks.service import list_tasks

    accounts = json.loads(runner.invoke(app, ["demo", "users", "--json"]).stdout)
    grid = next(a for a in accounts if a["role"] == "grid_worker")
    # The three grids of 龙城社区 with the most tasks (15, 11 and 10 of its 55).
    assert grid["scope"] == {
        "level": "grids",
        "codes": ["440305007008011", "440305007008019", "440305007008022"],
    }
    with session_factory(_engine(cli_world))() as session:
        for role in ("community_staff", "grid_worker"):
            account = next(a for a in accounts if a["role"] == role)
            user = service.get_user_by_name(session, account["username"])
            principal = service.principal_of(user)
            assert principal.scope.codes == frozenset(account["scope"]["codes"]), role
            assert list_tasks(session, principal.scope), role


def test_users_create_list_disable(cli_world: Path) -> None:
    created = runner.invoke(
        app,
        [
            "users",
            "create",
            "wang.wu",
            "--role",
            "grid_worker",
            "--scope-level",
            "grids",
            "--scope",
            "440305007003001",
            "--scope",
            "440305007003002",
            "--password",
            "grid-worker-77",
            "--phone",
            "13512345678",
        ],
    )
    assert created.exit_code == 0, created.output
    listed = json.loads(runner.invoke(app, ["users", "list", "--json"]).stdout)
    wang = next(u for u in listed if u["username"] == "wang.wu")
    assert wang["phone"] == "135****5678" and wang["scope"]["codes"] == ["440305007003001", "440305007003002"]
    bad = runner.invoke(
        app,
        [
            "users",
            "create",
            "li.si",
            "--role",
            "mayor",
            "--scope-level",
            "district",
            "--scope",
            "440305000000",
            "--password",
            "whatever-123",
        ],
    )
    assert bad.exit_code == 2 and "unknown role" in bad.output
    outside = runner.invoke(
        app,
        [
            "users",
            "create",
            "li.si",
            "--role",
            "grid_worker",
            "--scope-level",
            "community",
            "--scope",
            "440305007999",
            "--password",
            "whatever-123",
        ],
    )
    assert outside.exit_code == 1 and "440305007999" in outside.output
    assert runner.invoke(app, ["users", "disable", "wang.wu"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["users", "list", "--json"]).stdout)
    assert next(u for u in listed if u["username"] == "wang.wu")["is_active"] is False


def test_keys_rotate_reencrypts_and_old_keys_still_read(cli_world: Path) -> None:
    engine = _engine(cli_world)

    def tokens() -> list[str]:
        with engine.connect() as connection:
            return [
                r[0]
                for r in connection.execute(
                    text("SELECT phone_encrypted FROM user_account WHERE phone_encrypted IS NOT NULL")
                )
            ]

    def registry_tokens() -> list[tuple[str, str]]:
        with engine.connect() as connection:
            return [
                (r[0], r[1])
                for r in connection.execute(
                    text("SELECT id_number_enc, phone_enc FROM reg_person ORDER BY id")
                )
            ]

    before = tokens()
    registry_before = registry_tokens()
    quarantine_before = [json.loads(str(t)) for t in _scalars(engine, "SELECT cells FROM ingest_quarantine")]
    assert quarantine_before and all(isinstance(t, str) for t in quarantine_before)
    registry_fields = (
        sum(1 for pair in registry_before for t in pair if t)
        + sum(
            1
            for _ in _scalars(
                engine, "SELECT landlord_id_enc FROM reg_rental WHERE landlord_id_enc IS NOT NULL"
            )
        )
        + sum(
            1
            for _ in _scalars(
                engine, "SELECT landlord_phone_enc FROM reg_rental WHERE landlord_phone_enc IS NOT NULL"
            )
        )
        + len(quarantine_before)  # each quarantined row's cells: one encrypted field
    )
    old_key = {crypto.key_id_of(t) for t in before}
    assert len(before) >= 8 and len(old_key) == 1 and len(registry_before) > 1000
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"re-encrypted {len(before)} account field(s) and {registry_fields} registry field(s)" in said, (
        said
    )
    # The block data's IDs and phones moved to the new key too, and still decrypt to the same values.
    registry_after = registry_tokens()
    assert {crypto.key_id_of(t) for pair in registry_after for t in pair if t} == {
        crypto.key_id_of(t) for t in tokens()
    }
    assert [
        crypto.load_keyring().decrypt(pair[0], "reg_person.id_number") for pair in registry_after[:50]
    ] == [crypto.load_keyring().decrypt(pair[0], "reg_person.id_number") for pair in registry_before[:50]]
    quarantine_after = [json.loads(str(t)) for t in _scalars(engine, "SELECT cells FROM ingest_quarantine")]
    assert {crypto.key_id_of(t) for t in quarantine_after} == {crypto.key_id_of(t) for t in tokens()}
    assert [crypto.load_keyring().decrypt(t, "ingest_quarantine.cells") for t in quarantine_after[:20]] == [
        crypto.load_keyring().decrypt(t, "ingest_quarantine.cells") for t in quarantine_before[:20]
    ]
    after = tokens()
    new_key = {crypto.key_id_of(t) for t in after}
    assert new_key.isdisjoint(old_key) and len(new_key) == 1
    keyring = crypto.load_keyring()
    assert keyring.active in new_key and old_key <= set(keyring.key_ids)  # old key kept for old copies
    assert [keyring.decrypt(t, service.PHONE_CONTEXT) for t in after] == [
        keyring.decrypt(t, service.PHONE_CONTEXT) for t in before
    ]
    # Lookups by phone still work: the blind index does not rotate.
    with session_factory(engine)() as session:
        phone = keyring.decrypt(after[0], service.PHONE_CONTEXT)
        assert service.find_user_by_phone(session, phone) is not None


def test_editing_the_audit_log_with_the_sqlite3_tool_fails_verify(
    cli_world: Path, require: Callable[[bool, str], None]
) -> None:
    require(
        shutil.which("sqlite3") is not None,
        "the sqlite3 command-line tool is not installed (apt-get install sqlite3)",
    )
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    database = cli_world / "gridgov.sqlite3"
    subprocess.run(
        ["sqlite3", str(database), "UPDATE audit_log SET actor = 'someone-else' WHERE id = 5"], check=True
    )
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "entry 5" in result.output


def test_address_import_lines_and_parse(cli_world: Path, tmp_path: Path) -> None:
    library = tmp_path / "shenzhen.txt"
    library.write_text(
        "宝安区福永街道白石厦社区龙王庙工业区61栋\n福田区华强北路1号\nnot an address\n", encoding="utf-8"
    )
    imported = runner.invoke(app, ["address", "import", str(library), "--format", "lines", "--json"])
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.stdout)
    assert (report["rows"], report["imported"], report["rejected"]) == (3, 2, 1)
    assert Path(report["rejects_file"]).exists()
    queries = tmp_path / "queries.txt"
    queries.write_text(
        "广东省深圳市南山区粤海街道麻布新村一坊1号\n向南路49号南粤山庄10-601\n" + "长" * 300 + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "parsed.jsonl"
    parsed = runner.invoke(app, ["address", "parse", str(queries), "-o", str(out)])
    assert parsed.exit_code == 0, parsed.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3  # every input line gives an output line
    first = records[0]
    labels = {s["label"]: first["text"][s["start"] : s["end"]] for s in first["spans"]}
    assert labels["town"] == "粤海街道" and labels["district"] == "南山区"
    assert "error" in records[2] and records[2]["spans"] == []


def test_rules_run_again_creates_nothing_new(cli_world: Path) -> None:
    """The demo load ran the rules: a second run finds the same facts and asks nothing twice."""
    listed = runner.invoke(app, ["rules", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rules = {row["rule"] for row in json.loads(listed.stdout)}
    assert {"new_occupant", "over_occupancy", "invalid_id", "merge_in_doubt"} <= rules
    again = runner.invoke(app, ["rules", "run", "--json"])
    assert again.exit_code == 0, again.output
    created = json.loads(again.stdout)
    assert set(created) >= rules - {"merge_in_doubt"} and sum(created.values()) == 0
    with _engine(cli_world).connect() as connection:
        open_tasks = connection.execute(text("SELECT COUNT(*) FROM task WHERE state = 'open'")).scalar_one()
    assert open_tasks > 0
    unknown = runner.invoke(app, ["rules", "run", "--rule", "no_such_rule"])
    assert unknown.exit_code == 1 and "Unknown rule" in unknown.output
