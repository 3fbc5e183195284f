"""The same library and the same file give the same output bytes in every run, whatever the hash seed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from gridgov.address.service import import_file
from gridgov.core.db import session_factory

_CN = "一二三四五六七八九十"


def _chinese(n: int) -> str:
    return _CN[n - 1] if n <= 10 else "十" + (_CN[n - 11] if n > 10 else "")


# Estates whose zones the library holds twice, written 6区 and 六区 (十五区 and 15区): equivalent records that
# tie on every score, and enough siblings that more candidates share bigrams than retrieval keeps.
_ESTATES = (("前进二路", "桃源居"), ("新安六路", "碧海花园"), ("宝民一路", "翠景苑"))


def _library() -> list[str]:
    lines = []
    for road, estate in _ESTATES:
        for zone in range(1, 20):
            for building in (2, 5):
                lines.append(f"宝安区西乡街道{road}{estate}{zone}区{building}栋2单元")
                lines.append(f"宝安区西乡街道{road}{estate}{_chinese(zone)}区{building}栋2单元")
    return lines


def _queries() -> list[str]:
    texts = []
    for road, estate in _ESTATES:
        for zone in range(1, 20):
            texts += [
                f"{estate}{_chinese(zone)}区2栋二单元1403",
                f"宝安区{road}{estate}{zone}区5栋2单元102房",
                f"{estate}{zone}区2栋",
            ]
    return texts


def test_address_match_gives_the_same_bytes_under_different_hash_seeds(
    backend: str, empty_engine_factory: Callable[[str], Engine], tmp_path: Path
) -> None:
    engine = empty_engine_factory(backend)
    library = tmp_path / "library.txt"
    library.write_text("\n".join(_library()) + "\n", encoding="utf-8")
    with session_factory(engine)() as session:
        report = import_file(session, library, fmt="lines", source="tests")
        session.commit()
    assert report.imported == 3 * 19 * 2 * 2
    queries = tmp_path / "queries.csv"
    with queries.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["n", "地址"])
        writer.writerows(enumerate(_queries()))
    outputs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"matched-{seed}.csv"
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "GRIDGOV_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "GRIDGOV_VAR_DIR": str(tmp_path / "var"),
        }
        command = ["address", "match", str(queries), "--column", "地址", "-o", str(out), "--workers", "1"]
        done = subprocess.run(
            [sys.executable, "-m", "gridgov.cli.main", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    rows = list(csv.DictReader(outputs[0].decode("utf-8-sig").splitlines()))
    assert len(rows) == 3 * 19 * 3 and all(r["std_code"] for r in rows)
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
