"""Personal data at rest: after a demo load (on SQLite, into a working directory of its own) no valid
resident ID number appears in clear in the database file or in any file under the working directory, and
the files that hold personal data are mode 0600 in folders of mode 0700. Quarantined cells are stored
encrypted, and come out in clear only through the audited, reasoned quarantine export."""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from gridgov.core.identifiers import is_valid_resident_id

# 18 characters not inside a longer run of digits: 17 digits and a digit or X (GB 11643).
CANDIDATE = re.compile(rb"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")


def resident_ids_in(data: bytes) -> set[str]:
    return {m.decode() for m in CANDIDATE.findall(data) if is_valid_resident_id(m.decode())}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@dataclass
class Loaded:
    var: Path
    quarantine_cells: list[str]  # as stored
    world: Path  # where the demo world was generated


@pytest.fixture
def loaded(tmp_path: Path, demo_world: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loaded]:
    """`gridgov demo load`'s work (migrate, then load_demo with no world given) into a fresh working
    directory on SQLite. The world it generates is the session's demo world (the same scale and seed,
    copied rather than generated again: the generator is deterministic)."""
    from gridgov.core.db import get_engine, session_factory
    from gridgov.core.migrate import upgrade
    from gridgov.core.settings import get_settings
    from gridgov.demo import generate
    from gridgov.demo.load import load_demo

    var = tmp_path / "var"
    # The area synthesis cache is expensive and holds no personal data: reuse the suite's.
    cache = Path(str(get_settings().var_dir)) / "cache"
    if cache.exists():
        shutil.copytree(cache, var / "cache")
    monkeypatch.setenv("GRIDGOV_VAR_DIR", str(var))
    monkeypatch.delenv("GRIDGOV_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRIDGOV_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRIDGOV_KEY_FILE", raising=False)
    monkeypatch.setenv("GRIDGOV_DEMO_SCALE", "0.01")
    monkeypatch.setenv("GRIDGOV_DEMO_SEED", "1")
    generated: list[Path] = []

    def copy_world(target: Path, *, scale: float, seed: int, **_options: object) -> object:
        assert (scale, seed) == (0.01, 1)
        shutil.copytree(demo_world, target)
        generated.append(target)
        return None

    monkeypatch.setattr(generate, "generate_world", copy_world)
    get_settings.cache_clear()
    get_engine.cache_clear()
    from gridgov.core import crypto

    crypto.get_keyring.cache_clear()
    try:
        engine = get_engine()
        upgrade(engine)
        with session_factory(engine)() as session:
            load_demo(session)
            session.commit()
            held = session.execute(text("SELECT cells FROM ingest_quarantine")).scalars().all()
            assert session.scalar(select(func.count()).select_from(text("reg_person"))) > 0
        assert generated
        yield Loaded(var, [str(cells) for cells in held], generated[0])
        engine.dispose()
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
        crypto.get_keyring.cache_clear()


def test_after_a_demo_load_no_resident_id_is_in_clear_under_var_and_files_are_private(loaded: Loaded) -> None:
    var = loaded.var
    files = [path for path in var.rglob("*") if path.is_file()]
    database = var / "gridgov.sqlite3"
    assert database in files
    found = {
        str(path.relative_to(var)): len(ids) for path in files if (ids := resident_ids_in(path.read_bytes()))
    }
    assert found == {}
    # The scan does see an ID in clear (a positive control: GB 11643's own example).
    assert resident_ids_in("姓名,11010519491231002X,".encode()) == {"11010519491231002X"}
    # The demo feeds' broken rows are held, each as one encrypted token; the generated feeds are gone.
    assert len(loaded.quarantine_cells) > 100
    assert all(cells.startswith('"g1.') for cells in loaded.quarantine_cells)
    assert not loaded.world.exists() and not loaded.world.is_relative_to(var)

    assert mode(var) == 0o700
    for part in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        if part.exists():
            assert mode(part) == 0o600, part
    rejects = [path for path in files if path.parent.name == "rejects"]
    assert rejects  # the demo's event feeds have rows refused with their reasons
    for path in rejects:
        assert mode(path) == 0o600 and mode(path.parent) == 0o700, path
