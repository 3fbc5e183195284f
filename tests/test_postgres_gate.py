"""No PostgreSQL: one clear skip reason for a newcomer; a failure with GRIDGOV_REQUIRE_POSTGRES=1 (CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"  # port 9 (discard): nothing listens


def run_health_test(require: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDGOV_TEST_POSTGRES_URL": UNREACHABLE}
    env.pop("GRIDGOV_REQUIRE_POSTGRES", None)
    if require:
        env["GRIDGOV_REQUIRE_POSTGRES"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_areas_api.py::test_health_reports_the_database",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_missing_postgres_skips_with_a_clear_reason() -> None:
    result = run_health_test(require=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert result.stdout.count("PostgreSQL not reachable at") >= 1
    assert "GRIDGOV_REQUIRE_POSTGRES=1" in result.stdout


def test_missing_postgres_fails_when_required() -> None:
    result = run_health_test(require=True)
    assert result.returncode != 0
    assert "PostgreSQL is unreachable" in result.stdout
