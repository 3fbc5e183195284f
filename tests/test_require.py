"""The one rule for tests that need something outside the checkout: skip where it is missing, fail under
CI (``.ci/run`` exports ``CI=true``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def test_a_missing_file_skips_outside_ci(
    require_file: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing"):
        require_file(tmp_path / "absent.tsv")


def test_a_missing_file_fails_under_ci(
    require_file: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_file(tmp_path / "absent.tsv")


def test_a_present_file_is_returned_and_a_missing_tool_fails_under_ci(
    require: Callable[[bool, str], None],
    require_file: Callable[[Path], Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CI", "true")
    present = tmp_path / "present.tsv"
    present.write_text("a\tb\t1\n", encoding="utf-8")
    assert require_file(present) == present
    require(True, "never said")
    with pytest.raises(pytest.fail.Exception, match="sqlite3"):
        require(False, "the sqlite3 command-line tool is not installed")


def test_ci_runs_with_ci_set() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nexport CI=true\n" in ci
