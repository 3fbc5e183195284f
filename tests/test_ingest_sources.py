"""Import sources (issue 6): registration from a spec, on/off, push tokens, the list with last batch and
totals, and the `gridgov sources` commands — on both backends."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridgov.accounts import service as accounts
from gridgov.cli.main import app as cli
from gridgov.core.db import session_factory
from gridgov.core.errors import InvalidInput, NotFound
from gridgov.core.identifiers import credit_code_check_char, org_code_check_char
from gridgov.demo.accounts import DemoAccount
from gridgov.ingest import service, sources
from gridgov.ingest.mapping import SPEC_DIR
from gridgov.ingest.models import Source

runner = CliRunner()
ENTITY_COLUMNS = [
    "序号",
    "统一社会信用代码",
    "主体名称",
    "主体类型",
    "法定代表人/经营者",
    "注册资本(万元)",
    "成立日期",
    "登记状态",
    "行业门类",
    "住所",
    "经营场所",
    "风险等级",
    "三小场所类别",
]


def unique_name(stem: str = "src") -> str:
    return f"tests.{stem}_{uuid.uuid4().hex[:10]}"


def entity_spec(name: str) -> str:
    """The shipped business-register spec under another name (a source of its own)."""
    text = (SPEC_DIR / "entities_business_register.yaml").read_text(encoding="utf-8")
    assert "name: entities.business_register" in text
    return text.replace("name: entities.business_register", f"name: {name}")


def credit_code(number: int) -> str:
    body = f"{number % 100_000_000:08d}"
    first17 = "91440300" + body + org_code_check_char(body)
    return first17 + credit_code_check_char(first17)


def entity_rows(count: int, *, broken: int = 0) -> list[dict[str, str]]:
    """``count`` good rows of the business register (fresh credit codes) and ``broken`` rows without a
    name (quarantined). The addresses match no standard address: nothing lands in a street or grid."""
    seed = uuid.uuid4().int
    rows = []
    for i in range(count + broken):
        rows.append(
            {
                "序号": f"T{seed % 10**8}-{i}",
                "统一社会信用代码": credit_code(seed + i),
                "主体名称": "" if i >= count else f"测试推送商行{i}号",
                "主体类型": "个体工商户",
                "法定代表人/经营者": "张测试",
                "注册资本(万元)": "10",
                "成立日期": "2019-05-06",
                "登记状态": "存续",
                "行业门类": "批发和零售业",
                "住所": f"测试省测试市测试大道{i}号",
                "经营场所": f"测试省测试市测试大道{i}号",
                "风险等级": "低",
                "三小场所类别": "",
            }
        )
    return rows


def as_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ENTITY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ENTITY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---- service ------------------------------------------------------------------------------------------


def test_register_takes_the_registration_facts_from_the_spec_and_updates_by_name(session: Session) -> None:
    name = unique_name()
    source = sources.register(session, entity_spec(name))
    assert (source.department, source.system, source.category, source.contact) == (
        "南山区市场监督管理局",
        "商事登记系统",
        "entities",
        "登记注册科",
    )
    assert source.active and source.token_hash is None
    again = sources.register(session, entity_spec(name).replace("title: 商事主体登记", "title: 改名登记"))
    assert again.id == source.id and again.title == "改名登记"


def test_a_wrong_spec_is_refused_with_where_the_mistake_is(session: Session) -> None:
    broken = entity_spec(unique_name()).replace("record: entity", "record: spaceship")
    with pytest.raises(InvalidInput, match="record"):
        sources.register(session, broken)
    with pytest.raises(InvalidInput, match="not valid YAML"):
        sources.register(session, "name: [unclosed")
    with pytest.raises(InvalidInput, match="empty"):
        sources.register(session, "  ")


def test_push_tokens_are_shown_once_kept_as_hashes_and_never_resolve_a_user(
    session: Session, demo_accounts: dict[str, DemoAccount]
) -> None:
    name = unique_name()
    sources.register(session, entity_spec(name))
    issued = sources.issue_push_token(session, name)
    assert issued.token.startswith(sources.PUSH_TOKEN_PREFIX) and len(issued.token) > 40
    stored = session.scalars(select(Source).where(Source.name == name)).one()
    assert stored.token_hash and issued.token not in stored.token_hash
    assert sources.resolve_push_token(session, issued.token) is stored
    assert sources.resolve_push_token(session, issued.token + "x") is None
    assert sources.resolve_push_token(session, "ggv_" + issued.token[4:]) is None
    # A new token replaces the old one; revoking stops the new one.
    second = sources.issue_push_token(session, name)
    assert sources.resolve_push_token(session, issued.token) is None
    assert sources.resolve_push_token(session, second.token) is stored
    sources.revoke_push_token(session, name)
    assert sources.resolve_push_token(session, second.token) is None
    # A user's API token never names a source, and a source token is no user token.
    user = accounts.get_user_by_name(session, demo_accounts["admin"].username)
    user_token = accounts.issue_token(session, user, name="probe").token
    assert sources.resolve_push_token(session, user_token) is None
    assert accounts.resolve_token(session, second.token) is None
    with pytest.raises(NotFound):
        sources.issue_push_token(session, "tests.nobody_here")


def test_list_shows_last_batch_and_totals_and_a_source_switched_off_takes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    factory = session_factory(engine)
    name = unique_name()
    with factory() as session:
        sources.register(session, entity_spec(name))
        session.commit()
    feed = write_csv(tmp_path / "feed.csv", entity_rows(3, broken=1))
    first = service.ingest_file(factory, feed, source=name)
    second = service.ingest_file(factory, feed, source=name)
    assert (first.accepted, first.quarantined) == (3, 1)
    assert (second.unchanged, second.quarantined) == (3, 1)
    with factory() as session:
        summary = next(s for s in sources.list_sources(session) if s.name == name)
        assert summary.last_batch is not None and summary.last_batch["batch"] == second.batch
        assert summary.last_batch["status"] == "done" and summary.last_batch["unchanged"] == 3
        assert summary.totals == {
            "batches": 2,
            "rows": 8,
            "accepted": 3,
            "merged": 0,
            "unchanged": 3,
            "quarantined": 2,
        }
        assert summary.columns[0] == "序号" and "统一社会信用代码" in summary.columns
        assert [b["batch"] for b in sources.list_batches(session, source=name)] == [second.batch, first.batch]
        sources.set_active(session, name, False)
        session.commit()
    with pytest.raises(InvalidInput, match="switched off"):
        service.ingest_file(factory, feed, source=name)
    with pytest.raises(InvalidInput, match="switched off"):
        sources.start_import(factory, feed, source=name, started_by="tests")


def test_a_background_import_answers_with_its_batch_and_finishes(engine: Engine, tmp_path: Path) -> None:
    factory = session_factory(engine)
    name = unique_name()
    with factory() as session:
        sources.register(session, entity_spec(name))
        session.commit()
    feed = write_csv(tmp_path / "upload.csv", entity_rows(4, broken=2))
    batch_id = sources.start_import(factory, feed, source=name, started_by="tests")
    view = wait_for(factory, batch_id)
    assert view["status"] == "done" and view["source"] == name
    assert (view["rows"], view["accepted"], view["quarantined"]) == (6, 4, 2)
    # An empty file and an unknown format are refused before any batch opens.
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no header"):
        sources.start_import(factory, empty, source=name, started_by="tests")
    header_only = write_csv(tmp_path / "header.csv", [])
    with pytest.raises(InvalidInput, match="no rows"):
        sources.start_import(factory, header_only, source=name, started_by="tests")
    with pytest.raises(InvalidInput, match="format"):
        sources.start_import(factory, tmp_path / "feed.pdf", source=name, started_by="tests")


def test_a_run_that_breaks_off_marks_its_batch_failed_and_a_new_run_settles_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = session_factory(engine)
    name = unique_name()
    with factory() as session:
        sources.register(session, entity_spec(name))
        session.commit()
    feed = write_csv(tmp_path / "feed.csv", entity_rows(3))
    real = service.ingest_file

    def breaks_after_the_first_chunk(*args: object, **kwargs: object) -> service.BatchReport:
        def stop(_rows: int) -> None:
            raise RuntimeError("disk full")

        return real(*args, **{**kwargs, "progress": stop})  # type: ignore[arg-type]

    monkeypatch.setattr(service, "ingest_file", breaks_after_the_first_chunk)
    broken = wait_for(factory, sources.start_import(factory, feed, source=name, started_by="tests"))
    assert broken["status"] == "failed" and broken["error"] == "RuntimeError" and broken["rows"] == 3
    monkeypatch.setattr(service, "ingest_file", real)
    again = wait_for(factory, sources.start_import(factory, feed, source=name, started_by="tests"))
    assert again["batch"] != broken["batch"] and again["status"] == "done"
    assert (again["rows"], again["unchanged"]) == (3, 3)  # nothing twice


def wait_for(factory: object, batch_id: int, timeout: float = 60.0) -> dict[str, object]:
    import time

    from sqlalchemy.orm import sessionmaker

    assert isinstance(factory, sessionmaker)
    deadline = time.monotonic() + timeout
    while True:
        with factory() as session:
            view = sources.get_batch(session, batch_id)
        if view["status"] != "running" or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def test_safe_file_names() -> None:
    assert sources.safe_file_name("../../etc/passwd") == "passwd"
    assert sources.safe_file_name("C:\\data\\商事 登记.csv") == "商事_登记.csv"
    assert sources.safe_file_name("") == "upload.csv"
    assert sources.safe_file_name("...") == "upload.csv"


# ---- CLI ----------------------------------------------------------------------------------------------


def test_cli_registers_lists_switches_and_issues_a_token(
    cli_env: None, tmp_path: Path, engine: Engine
) -> None:
    name = unique_name("cli")
    spec = tmp_path / "spec.yaml"
    spec.write_text(entity_spec(name), encoding="utf-8")
    result = runner.invoke(cli, ["sources", "register", str(spec)])
    assert result.exit_code == 0, result.output
    assert name in result.stdout

    listed = runner.invoke(cli, ["sources", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    mine = next(row for row in json.loads(listed.stdout) if row["name"] == name)
    assert mine["department"] == "南山区市场监督管理局" and mine["active"] is True
    assert mine["has_push_token"] is False and mine["last_batch"] is None
    table = runner.invoke(cli, ["sources", "list"])
    assert table.exit_code == 0 and "sources" in table.stdout

    token = runner.invoke(cli, ["sources", "token", name])
    assert token.exit_code == 0, token.output
    secret = token.stdout.strip().splitlines()[-1]
    assert secret.startswith("ggs_")
    with session_factory(engine)() as session:
        found = sources.resolve_push_token(session, secret)
        assert found is not None and found.name == name

    assert runner.invoke(cli, ["sources", "disable", name]).exit_code == 0
    listed = runner.invoke(cli, ["sources", "list", "--json"])
    mine = next(row for row in json.loads(listed.stdout) if row["name"] == name)
    assert mine["active"] is False and mine["has_push_token"] is True
    assert runner.invoke(cli, ["sources", "enable", name]).exit_code == 0


def test_cli_bad_input_is_one_line_and_exit_1(cli_env: None, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(entity_spec(unique_name()).replace("record: entity", "record: spaceship"), "utf-8")
    for args in (
        ["sources", "register", str(wrong)],
        ["sources", "register", str(tmp_path / "missing.yaml")],
        ["sources", "token", "tests.nobody_here"],
        ["sources", "disable", "tests.nobody_here"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output and "error" in result.output
