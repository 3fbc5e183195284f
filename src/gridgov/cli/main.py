"""`gridgov` — the command line. Each command calls a service function; none holds business rules."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session

from gridgov.core.errors import GridgovError
from gridgov.core.exports import SafeCsvWriter, append_row

app = typer.Typer(help="gridgov 网格化社会治理平台 — grid-based urban governance.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The synthetic Nanshan world.", no_args_is_help=True)
areas_app = typer.Typer(help="District, streets, communities and grids.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts: create, list, disable, unlock.", no_args_is_help=True)
address_app = typer.Typer(help="The standard address library.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(areas_app, name="areas")
app.add_typer(users_app, name="users")
app.add_typer(address_app, name="address")
keys_app = typer.Typer(help="Encryption keys of personal data.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _register_audit() -> None:
    from gridgov.audit.cli import app as audit_app

    app.add_typer(audit_app, name="audit")


_register_audit()


@app.callback()
def _root() -> None:
    """Every command acts as `cli:<os user>` in the audit trail, and its writes are audited."""
    from gridgov.audit.context import cli_actor, set_actor
    from gridgov.audit.service import install_write_auditing

    set_actor(cli_actor())
    install_write_auditing()


console = Console()
err_console = Console(stderr=True)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Domain errors, and files that cannot be opened, end the command with their message and exit code 1,
    never a traceback."""
    try:
        yield
    except GridgovError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from exc
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        err_console.print(f"[red]error[/red] (file): {exc.strerror}: {exc.filename}")
        raise typer.Exit(1) from exc


def _session() -> AbstractContextManager[Session]:
    from gridgov.core.db import session_scope

    return session_scope()


def _upgrade() -> None:
    from gridgov.core.db import get_engine
    from gridgov.core.migrate import upgrade

    upgrade(get_engine())


# ------------------------------------------------------------------------------------------------ serve / db


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
    jobs: Annotated[
        bool, typer.Option(help="Run the periodic event jobs in this process (off when a worker runs them)")
    ] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (more than one needs --no-jobs and `gridgov worker`)")
    ] = 1,
) -> None:
    """Serve the web platform and API (with the event deadline job in-process unless --no-jobs)."""
    import uvicorn

    if workers > 1 and jobs:
        # Each process would run its own deadline pass; one `gridgov worker` beside them runs it once.
        raise typer.BadParameter("with --workers above 1 pass --no-jobs and run `gridgov worker` beside it")
    if workers > 1 and reload:
        raise typer.BadParameter("--reload serves one process: leave out --workers")

    console.print(
        f"gridgov serving on [bold]http://{host}:{port}[/bold]  (map: http://{host}:{port}/map, "
        f"API docs: http://{host}:{port}/docs)"
    )
    os.environ["GRIDGOV_RUN_JOBS"] = "1" if jobs else "0"  # read by the app factory in the server process
    from gridgov.core.accesslog import uvicorn_log_config

    uvicorn.run(
        "gridgov.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        log_level="info",
        # Query-string secrets (an Open311 api_key, an access code) are blanked in the access log.
        log_config=uvicorn_log_config(),
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="One pass, then exit (for cron)")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes")] = 60.0,
) -> None:
    """Run the periodic event jobs: deadline colours, overdue events supervised by the level above."""
    from gridgov.core.db import get_engine, session_factory
    from gridgov.events.jobs import DeadlineWorker

    runner = DeadlineWorker(session_factory(get_engine()), interval=interval)
    report = runner.run_once()
    console.print(
        f"checked {report.checked} running clocks: {report.yellow} turned yellow, {report.red} red; "
        f"supervised {', '.join(report.supervised) or 'none'}"
    )
    if once:
        return
    console.print(f"running every {interval:.0f} s; Ctrl+C to stop")
    runner.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runner.stop()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from gridgov.core.db import get_engine
    from gridgov.core.migrate import current_revision, upgrade

    engine = get_engine()
    upgrade(engine, revision)
    console.print(
        f"database at revision [bold]{current_revision(engine)}[/bold] ({engine.url.render_as_string()})"
    )


# ------------------------------------------------------------------------------------------------ demo


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@demo_app.command("generate")
def demo_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the world into")],
    scale: Annotated[float, typer.Option(help="1.0 = Nanshan's published totals; 0.01 for tests")] = 0.01,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Write a synthetic Nanshan as the files departments would hand over, with ground truth."""
    from gridgov.demo.generate import generate_world

    if scale <= 0:
        raise typer.BadParameter("scale must be greater than 0")
    with clear_errors(), _progress() as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = generate_world(out, scale=scale, seed=seed, progress=report)
    if as_json:
        print(summary.to_json())
    else:
        console.print(summary.to_json())


class _DemoSteps:
    """`gridgov demo load`'s steps as they happen (on stderr): a line when a step is done, with the time it
    took; on a terminal a live line for the running step (its rows so far, for a feed), elsewhere (a log, a
    pipe) a line as each step begins."""

    def __init__(self, out: Console) -> None:
        self._out = out
        self._live = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[rows]}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        self._task: TaskID | None = None
        self._name = ""
        self._started = 0.0

    def __enter__(self) -> _DemoSteps:
        self._live.start()
        return self

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self._end(failed=exc_type is not None)
        self._live.stop()

    def step(self, name: str) -> None:
        self._end(failed=False)
        self._name, self._started = name, time.monotonic()
        self._task = self._live.add_task(name, rows="")
        if not self._out.is_terminal:
            self._say(f"▸ {name} …")

    def rows(self, done: int) -> None:
        if self._task is not None:
            self._live.update(self._task, rows=f"{done:,} rows")

    def _end(self, *, failed: bool) -> None:
        if self._task is None:
            return
        self._live.remove_task(self._task)
        self._task = None
        took = time.monotonic() - self._started
        self._say(f"{'✗' if failed else '✓'} {self._name} ({took:.1f} s)")

    def _say(self, line: str) -> None:
        self._out.print(line, markup=False, highlight=False, soft_wrap=True)


@demo_app.command("load")
def demo_load(
    world: Annotated[
        Path | None, typer.Option(help="A world written by `demo generate`; default: generate one")
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when a world is already loaded")
    ] = False,
    events: Annotated[
        bool, typer.Option(help="Load the historical events (12345 and grid reports, flows replayed)")
    ] = True,
    registry: Annotated[
        bool,
        typer.Option(help="Import the block data (buildings, dwellings, people, rentals, entities)"),
    ] = True,
) -> None:
    """Load the synthetic world: areas, addresses, demo accounts, event types and units, the block data
    through the import pipeline, and the historical events."""
    from gridgov.areas.service import areas_loaded
    from gridgov.demo.load import load_demo

    _upgrade()
    with clear_errors(), _session() as session:
        if if_empty and areas_loaded(session):
            console.print("demo world already loaded (run `gridgov demo load` without --if-empty to reload)")
            return
        with _DemoSteps(err_console) as steps:
            report = load_demo(session, world_dir=world, events=events, registry=registry, report=steps)
    for line in report:
        console.print(line)


# ------------------------------------------------------------------------------------------------ areas


@areas_app.command("load")
def areas_load() -> None:
    """(Re)load the Nanshan areas: real codes, real outline, synthetic polygons, 1,610 grids."""
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.demo.load import record_area_load

    _upgrade()
    with clear_errors(), console.status("synthesising and loading areas…"), _session() as session:
        stats = load_nanshan_areas(session)
        record_area_load(session, stats)
    console.print(stats.model_dump())


@areas_app.command("stats")
def areas_stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Counts of streets, communities and grids."""
    from gridgov.areas.service import area_stats

    with clear_errors(), _session() as session:
        stats = area_stats(session)
    if as_json:
        print(stats.model_dump_json())
        return
    table = Table(title=stats.district)
    for column in ("streets", "communities", "grids", "area km²", "synthetic geometry"):
        table.add_column(column)
    table.add_row(
        str(stats.streets),
        str(stats.communities),
        str(stats.grids),
        f"{stats.area_km2:.2f}",
        "yes" if stats.synthetic_geometry else "no",
    )
    console.print(table)


class CrsChoice(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"


@areas_app.command("locate")
def areas_locate(
    lon: Annotated[float, typer.Argument(help="Longitude")],
    lat: Annotated[float, typer.Argument(help="Latitude")],
    crs: Annotated[CrsChoice, typer.Option(help="Coordinate system of the point")] = CrsChoice.wgs84,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Which grid, community and street a point is in (or 'outside the district')."""
    from gridgov.areas.scope import WHOLE_DISTRICT
    from gridgov.areas.service import locate_point

    with clear_errors(), _session() as session:
        result = locate_point(session, lon, lat, crs.value, scope=WHOLE_DISTRICT)
    if as_json:
        print(result.model_dump_json())
    elif result.inside and result.grid and result.community and result.street:
        console.print(
            f"{result.street.name} › {result.community.name} › {result.grid.name} "
            f"([bold]{result.grid.code}[/bold])"
        )
    else:
        console.print(f"[yellow]{result.reason}[/yellow] ({result.lon:.6f}, {result.lat:.6f})")
    if not result.inside:
        raise typer.Exit(3)


class ExportFormat(StrEnum):
    geojson = "geojson"
    csv = "csv"
    xlsx = "xlsx"


class LevelChoice(StrEnum):
    street = "street"
    community = "community"
    grid = "grid"


@areas_app.command("export")
def areas_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")],
    level: Annotated[LevelChoice, typer.Option(help="Which level to export")] = LevelChoice.grid,
    fmt: Annotated[
        ExportFormat | None, typer.Option("--format", help="Default: from the file extension")
    ] = None,
) -> None:
    """Export streets, communities or grids as GeoJSON, CSV or Excel (polygons are synthetic)."""
    from gridgov.areas.service import export_geojson, export_rows

    try:
        chosen = fmt or ExportFormat(output.suffix.lstrip(".").lower())
    except ValueError as exc:
        raise typer.BadParameter("give --format or a file ending in .geojson, .csv or .xlsx") from exc
    with clear_errors(), _session() as session:
        if chosen is ExportFormat.geojson:
            output.write_text(
                json.dumps(export_geojson(session, level.value), ensure_ascii=False), encoding="utf-8"
            )
            count = None
        else:
            header, rows = export_rows(session, level.value)
            count = len(rows)
            if chosen is ExportFormat.csv:
                with output.open("w", encoding="utf-8-sig", newline="") as handle:
                    writer = SafeCsvWriter(handle)
                    writer.writerow(header)
                    writer.writerows(rows)
            else:
                from openpyxl import Workbook

                workbook = Workbook(write_only=True)
                sheet = workbook.create_sheet(level.value)
                append_row(sheet, header)
                for row in rows:
                    append_row(sheet, row)
                workbook.save(output)
    console.print(f"wrote {output}" + (f" ({count} rows)" if count is not None else ""))


@demo_app.command("users")
def demo_users(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """The demo accounts (one per role) and their passwords, as made by `gridgov demo load`."""
    from dataclasses import asdict

    from gridgov.demo.accounts import read_demo_accounts

    accounts = read_demo_accounts()
    if not accounts:
        err_console.print("no demo accounts yet: run `gridgov demo load` first")
        raise typer.Exit(1)
    if as_json:
        print(
            json.dumps(
                [
                    {"username": a.username, "password": a.password, "role": a.role, "scope": a.scope}
                    for a in accounts
                ],
                ensure_ascii=False,
            )
        )
        return
    # Plain lines, not a table: a table cuts its cells to the terminal's width ("LrX4JG7i_6ag…"), and a
    # password cut short cannot log in. soft_wrap: Rich inserts no line break; the terminal wraps.
    console.print("demo accounts — username / password:", markup=False, highlight=False)
    for account in accounts:
        row = asdict(account)
        scope = f"{row['scope']['level']}: {', '.join(row['scope']['codes'])}"
        console.print(
            f"  {account.username} / {account.password}", soft_wrap=True, markup=False, highlight=False
        )
        console.print(
            f"      {account.role} · {scope} · {account.org_unit}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


# ------------------------------------------------------------------------------------------------ users


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Login name: lower-case letters, digits, _ . -")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, district_operator, street_operator, community_staff, "
            "grid_worker, department_handler, contractor or auditor"
        ),
    ],
    scope_level: Annotated[str, typer.Option(help="district, street, community or grids")],
    scope: Annotated[list[str], typer.Option(help="Area code(s) of the scope; repeat for several grids")],
    display_name: Annotated[str, typer.Option(help="Name shown in the UI")] = "",
    org_unit: Annotated[str | None, typer.Option(help="Org unit code")] = None,
    phone: Annotated[str | None, typer.Option(help="Mobile number (stored encrypted)")] = None,
    password: Annotated[str | None, typer.Option(help="Default: asked for without echo")] = None,
) -> None:
    """Create an account."""
    from gridgov.accounts import service
    from gridgov.accounts.permissions import Role

    try:
        chosen_role = Role(role)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown role '{role}'", param_hint="--role") from exc
    secret = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with clear_errors(), _session() as session:
        user = service.create_user(
            session,
            service.NewUser(
                username=username,
                password=secret,
                role=chosen_role,
                scope=service.parse_scope(scope_level, scope),
                display_name=display_name,
                org_unit_code=org_unit,
                phone=phone,
            ),
        )
        console.print(f"created account [bold]{user.username}[/bold] (id {user.id}, {user.role})")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """All accounts (phone numbers masked)."""
    from gridgov.accounts import service

    with clear_errors(), _session() as session:
        rows = [service.user_summary(session, u) for u in service.list_users(session)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} accounts")
    for column in ("id", "username", "role", "scope", "org unit", "phone", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["username"],
            row["role"],
            f"{row['scope']['level']}: {', '.join(row['scope']['codes'])}",
            row["org_unit"] or "",
            row["phone"] or "",
            "yes" if row["is_active"] else "no",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="Login name")]) -> None:
    """Disable an account: it can no longer log in, its sessions end, its tokens stop working."""
    from gridgov.accounts import service

    with clear_errors(), _session() as session:
        user = service.set_active(session, service.get_user_by_name(session, username), False)
        console.print(f"disabled [bold]{user.username}[/bold]")


@users_app.command("unlock")
def users_unlock(
    username: Annotated[str, typer.Argument(help="Login name")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")] = "",
) -> None:
    """Clear an account's failed logins and lock-outs, from every address (audited)."""
    from gridgov.accounts import service

    with clear_errors(), _session() as session:
        user = service.get_user_by_name(session, username)
        cleared = service.unlock(session, user, reason=reason)
        console.print(f"unlocked [bold]{user.username}[/bold] ({cleared} address record(s) cleared)")


# ------------------------------------------------------------------------------------------------ address


class AddressFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    lines = "lines"


@address_app.command("import")
def address_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV/XLSX with std_code,address,… (buildings) or "
            "dwelling_code,std_code,… (dwellings); or one address per line"
        ),
    ],
    fmt: Annotated[AddressFormat | None, typer.Option("--format", help="Default: from the file name")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Import standard addresses; rejected rows go to a rejects file with their reasons."""
    from gridgov.address.service import import_file

    _upgrade()
    with clear_errors(), console.status(f"importing {file.name}…"), _session() as session:
        report = import_file(session, file, fmt=fmt.value if fmt else None)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    console.print(
        f"{report.rows} rows: {report.imported} imported, {report.unchanged} unchanged, "
        f"{report.rejected} rejected ({report.encoding})"
    )
    if report.rejects_file:
        console.print(
            f"rejected rows with reasons: [bold]{report.rejects_file}[/bold] — fix and import again"
        )


@address_app.command("parse")
def address_parse(
    source: Annotated[Path, typer.Argument(help="One address per line (UTF-8 or GBK)")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSON Lines: {text, spans:[{label,start,end}]}")
    ],
    model: Annotated[
        Path | None, typer.Option(help="A CRF model from bench/parse.py; default var/address/…")
    ] = None,
) -> None:
    """Label the parts of each address (NAACL/CCKS scheme): rules + our gazetteer, or a trained CRF."""
    from gridgov.address.service import parse_lines

    with clear_errors(), console.status(f"parsing {source.name}…"), _session() as session:
        summary = parse_lines(session, source, output, model=model)
    console.print(
        f"{summary['lines']} lines parsed with the {summary['engine']} parser "
        f"({summary['errors']} refused, with the reason in the output) → {output}"
    )


class MatchEngine(StrEnum):
    local = "local"
    dask = "dask"


@address_app.command("match")
def address_match(
    source: Annotated[Path, typer.Argument(help="CSV, XLSX or one address per line")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV: the input columns plus the match")],
    column: Annotated[str | None, typer.Option(help="The column holding the address text")] = None,
    fmt: Annotated[AddressFormat | None, typer.Option("--format", help="Default: from the file name")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: all cores)")] = 0,
    engine: Annotated[
        MatchEngine, typer.Option(help="local processes, or a Dask cluster")
    ] = MatchEngine.local,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, tcp://HOST:PORT")] = None,
) -> None:
    """Match every row to the standard address library; every input row comes out, with its reason."""
    from gridgov.address.batch import match_file

    with clear_errors(), _session() as session, _progress() as progress:
        task = progress.add_task(f"matching {source.name}", total=None)
        summary = match_file(
            session,
            source,
            output,
            column=column,
            fmt=fmt.value if fmt else None,
            workers=workers or (os.cpu_count() or 1),
            engine=engine.value,
            scheduler=scheduler,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(
        f"{summary['rows']} rows: {summary['accept']} matched, {summary['review']} to verify, "
        f"{summary['reject']} unmatched, {summary['error']} unreadable → {output}"
    )


# ------------------------------------------------------------------------------------------------ keys


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new data key active and re-encrypt every encrypted field with it (old keys stay readable)."""
    from gridgov.accounts.service import reencrypt_personal_data
    from gridgov.core import crypto
    from gridgov.ingest.service import reencrypt_registry

    if os.environ.get("GRIDGOV_SECRET_KEY"):
        err_console.print(
            "[red]error[/red]: keys come from GRIDGOV_SECRET_KEY, which this command cannot change. "
            "Write the keyring to a key file (GRIDGOV_KEY_FILE), unset the variable, then rotate."
        )
        raise typer.Exit(1)
    keyring = crypto.load_keyring(create_if_missing=True)
    rotated = keyring.rotate()
    path = crypto.key_file_path()
    # Save first: rows re-encrypted under a key that was never written down would be lost.
    crypto.save_keyring(rotated, path)
    crypto.get_keyring.cache_clear()
    with clear_errors(), _session() as session:
        count = reencrypt_personal_data(session)
        registry_count = reencrypt_registry(session)
    console.print(
        f"active key is now [bold]{rotated.active}[/bold] ({path}); re-encrypted {count} account "
        f"field(s) and {registry_count} registry field(s)"
    )


# ------------------------------------------------------------------------------------------------- events

events_app = typer.Typer(help="Events: intake from other systems.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("import")
def events_import(
    source: Annotated[Path, typer.Argument(help="12345 work orders or grid reports, CSV or XLSX")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or xlsx (default: from the name)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """File every row as an event at the time it was received; a row that cannot be filed goes to
    var/rejects/ with its reason; importing the same file again changes nothing."""
    from gridgov.events.service import import_reports

    with clear_errors(), _session() as session:
        report = import_reports(session, source, fmt=fmt)
        session.commit()
    if as_json:
        print(json.dumps(report.__dict__, ensure_ascii=False))
        return
    console.print(
        f"{report.rows} rows ({report.channel}): {report.imported} filed, {report.unchanged} already there, "
        f"{report.rejected} rejected" + (f" → {report.rejects_file}" if report.rejects_file else "")
    )


@events_app.command("replay-alerts")
def events_replay_alerts(
    source: Annotated[
        Path, typer.Argument(help="A rejects file of video alerts (var/rejects/video-alerts-YYYYMMDD.jsonl)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """File the kept video alerts again, each as the account that sent it: every line is reported filed,
    duplicate (filed before: its ticket) or refused with its reason; refused lines go to a new rejects file.
    Replaying the same file twice files nothing twice. Exit code 2 when some lines are still refused."""
    from gridgov.events.alerts import replay_alerts

    with clear_errors(), _session() as session:
        report = replay_alerts(session, source)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        for result in report.results:
            if result.status == "refused":
                console.print(f"line {result.line}: refused — {result.reason}", markup=False)
            else:
                console.print(f"line {result.line}: {result.status} {result.ticket}", markup=False)
        summary = (
            f"{report.lines} alerts: {report.filed} filed, {report.duplicate} filed before, "
            f"{report.refused} still refused"
        )
        console.print(summary + (f" → {report.rejects_file}" if report.rejects_file else ""), markup=False)
    if report.refused:
        raise typer.Exit(2)  # some lines are still refused: they are in the new rejects file named above


# ------------------------------------------------------------------------------------------------ ingest


@app.command()
def ingest(
    source_file: Annotated[Path, typer.Argument(help="A feed file: CSV, XLSX or JSON Lines")],
    source: Annotated[
        str, typer.Option("--source", help="The registered source (its mapping spec) it comes from")
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, xlsx or jsonl (default: from the name)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {rows, accepted, merged, unchanged, quarantined, …} as JSON")
    ] = False,
    rules: Annotated[
        bool, typer.Option(help="Then run the detection rules over the batch (verification tasks)")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(min=1, max=2, help="2: map and match the next chunk in a second process while writing"),
    ] = 1,
) -> None:
    """Run one batch through the block-data pipeline: every row ends accepted, merged, unchanged or
    quarantined (kept with its reasons); importing the same file again changes nothing; a batch stopped
    half-way resumes where it stopped. Then the detection rules turn what it brought into verification
    tasks for the grid workers."""
    from gridgov.audit.context import cli_actor
    from gridgov.core.db import get_engine, session_factory
    from gridgov.ingest.service import ingest_file
    from gridgov.rules.service import tasks_after_batch

    with clear_errors(), _progress() as progress:
        task = progress.add_task(f"ingesting {source_file.name}", total=None)
        report = ingest_file(
            session_factory(get_engine()),
            source_file,
            source=source,
            file_format=fmt,
            started_by=cli_actor().actor,
            progress=lambda rows: progress.advance(task, rows),
            after=tasks_after_batch if rules else None,
            workers=workers,
        )
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    resumed = f" (resumed at row {report.resumed_from_row})" if report.resumed_from_row else ""
    console.print(
        f"batch {report.batch}{resumed}: {report.rows} rows — {report.accepted} accepted, {report.merged} "
        f"merged, {report.unchanged} unchanged, {report.quarantined} quarantined; {report.flagged} with a "
        "value flagged for verification",
        markup=False,
    )
    if report.tasks:
        made = ", ".join(f"{rule} {count}" for rule, count in sorted(report.tasks.items()))
        console.print(f"verification tasks created: {made}", markup=False)


rules_app = typer.Typer(
    help="Detection rules: what in the data becomes a verification task.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")


@rules_app.command("run")
def rules_run(
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only this rule (repeatable)")] = None,
    batch: Annotated[int | None, typer.Option(help="Only what this import batch brought")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {rule: tasks created} as JSON")] = False,
) -> None:
    """Run the switched-on detection rules and create the verification tasks they imply (idempotent: a
    second run creates nothing new unless the data changed)."""
    from gridgov.rules.service import run_rules

    with clear_errors(), _session() as session:
        created = run_rules(session, rules=rule or None, batch_id=batch)
    if as_json:
        print(json.dumps(created, ensure_ascii=False))
        return
    for name, count in created.items():
        console.print(f"{name}: {count} task(s) created", markup=False)


@rules_app.command("list")
def rules_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The rules, their target, due days and whether each is switched on."""
    from gridgov.rules.service import catalogue

    with clear_errors(), _session() as session:
        rows = catalogue(session)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        state = "on" if row["enabled"] else "off"
        console.print(
            f"{row['rule']:20} {state:3} {row['target_kind']:8} {row['due_days']} days  {row['title']}"
        )


@app.command()
def quarantine(
    batch: Annotated[int, typer.Argument(help="The import batch (printed by gridgov ingest)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="XLSX file to write (mode 0600)")],
    reason: Annotated[
        str, typer.Option(help="Why you need the rows in clear (they hold personal data; audited)")
    ],
    lang: Annotated[str, typer.Option(help="Language of the reasons: zh-CN or en")] = "zh-CN",
) -> None:
    """Write a batch's quarantined rows as XLSX, with their row number and reasons: fix the cells and
    import the file again with the same --source; the fixed rows go in and are marked replayed. The rows
    hold personal data in clear: a reason is required, and the export is audited."""
    from gridgov.ingest.service import export_quarantine

    with clear_errors(), _session() as session:
        count = export_quarantine(session, batch, out, reason=reason, lang=lang)
    console.print(f"{count} quarantined rows → {out}", markup=False)


# ------------------------------------------------------------------------------------------------ sources

sources_app = typer.Typer(help="Import sources: mapping specs, on/off, push tokens.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("register")
def sources_register(
    spec_file: Annotated[Path, typer.Argument(help="The source's YAML mapping spec")],
) -> None:
    """Register a source from its mapping spec (or update the registration of the source it names)."""
    from rich.markup import escape

    from gridgov.ingest import sources

    with clear_errors():
        text = spec_file.read_text(encoding="utf-8")
        with _session() as session:
            source = sources.register(session, text)
            name, title = source.name, source.title
    console.print(f"registered source [bold]{name}[/bold] ({escape(title)})")


@sources_app.command("list")
def sources_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """The registered sources with their switch, push token and last batch."""
    from rich.markup import escape

    from gridgov.ingest import sources

    with clear_errors(), _session() as session:
        rows = [summary.as_dict() for summary in sources.list_sources(session)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} sources")
    for column in ("name", "title", "department", "system", "category", "on", "token", "last batch"):
        table.add_column(column)
    for row in rows:
        last = row["last_batch"]
        batch = (
            f"#{last['batch']} {last['status']}: {last['rows']} rows, {last['accepted']} accepted, "
            f"{last['merged']} merged, {last['unchanged']} unchanged, {last['quarantined']} quarantined"
            if last
            else ""
        )
        table.add_row(
            *(escape(str(row[key])) for key in ("name", "title", "department", "system", "category")),
            "yes" if row["active"] else "no",
            "yes" if row["has_push_token"] else "",
            batch,
        )
    console.print(table)


@sources_app.command("token")
def sources_token(name: Annotated[str, typer.Argument(help="The source's name")]) -> None:
    """Issue a push token for the source and print it (shown this once; only its SHA-256 is kept). The
    token it held before stops working."""
    from gridgov.ingest import sources

    with clear_errors(), _session() as session:
        issued = sources.issue_push_token(session, name)
    err_console.print(
        f"push token for [bold]{name}[/bold] (shown once; keep it safe). "
        f"POST /api/ingest/push/{name} with `Authorization: Bearer <token>`:"
    )
    print(issued.token)


def _switch_source(name: str, active: bool) -> None:
    from gridgov.ingest import sources

    with clear_errors(), _session() as session:
        sources.set_active(session, name, active)
    console.print(f"source [bold]{name}[/bold] switched {'on' if active else 'off'}")


@sources_app.command("disable")
def sources_disable(name: Annotated[str, typer.Argument(help="The source's name")]) -> None:
    """Switch a source off: it takes no file and no push until it is enabled again."""
    _switch_source(name, False)


@sources_app.command("enable")
def sources_enable(name: Annotated[str, typer.Argument(help="The source's name")]) -> None:
    """Switch a source on again."""
    _switch_source(name, True)


# ------------------------------------------------------------------------------------------------ open311

open311_app = typer.Typer(help="Open311 GeoReport v2 at /open311/v2/.", no_args_is_help=True)
open311_keys_app = typer.Typer(help="Open311 api_keys of client applications.", no_args_is_help=True)
open311_app.add_typer(open311_keys_app, name="keys")
app.add_typer(open311_app, name="open311")


@open311_keys_app.command("create")
def open311_keys_create(name: Annotated[str, typer.Argument(help="Who the key is for")]) -> None:
    """Make an api_key and print it (shown this once; only its SHA-256 is kept)."""
    from gridgov.events import open311

    with clear_errors(), _session() as session:
        key = open311.create_key(session, name)
    err_console.print(f"Open311 api_key for [bold]{name}[/bold] (shown once; keep it safe):")
    print(key)


@open311_keys_app.command("list")
def open311_keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """The Open311 keys (names and dates, never the keys)."""
    from gridgov.events import open311

    with clear_errors(), _session() as session:
        rows = [
            {
                "name": k.name,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in open311.list_keys(session)
        ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} Open311 keys")
    for column in ("name", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["name"]), str(row["created_at"]), str(row["revoked_at"] or ""))
    console.print(table)


@open311_keys_app.command("revoke")
def open311_keys_revoke(name: Annotated[str, typer.Argument(help="Name of the key")]) -> None:
    """Stop a key working at once (requests it filed stay)."""
    from gridgov.events import open311

    with clear_errors(), _session() as session:
        open311.revoke_key(session, name)
    console.print(f"revoked the Open311 key [bold]{name}[/bold]")


def main() -> None:  # pragma: no cover - console entry for `python -m gridgov.cli.main`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
