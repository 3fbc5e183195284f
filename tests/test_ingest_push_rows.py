"""A push carries at most ``push_max_rows`` rows (413, the body kept in the inbox), and a JSON array body
is turned into JSON Lines as a stream (one element at a time), with the same rows as parsing it whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gridgov.core.settings import get_settings
from gridgov.ingest import sources
from test_ingest_api import as_jsonl, push, pusher  # noqa: F401  (pusher: a fixture)
from test_ingest_sources import as_csv, entity_rows


@pytest.fixture
def three_rows_a_push(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRIDGOV_PUSH_MAX_ROWS", "3")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("GRIDGOV_PUSH_MAX_ROWS")
    get_settings.cache_clear()


@pytest.mark.usefixtures("three_rows_a_push")
def test_a_push_with_more_rows_than_allowed_is_refused_and_kept(
    anonymous_client: TestClient,
    pusher: tuple[str, str],  # noqa: F811
) -> None:
    name, token = pusher
    inbox = sources.inbox_dir(get_settings().var_dir)
    four = entity_rows(4)
    for body, content_type in (
        (json.dumps(four, ensure_ascii=False).encode(), "application/json"),
        (as_jsonl(four), "application/x-ndjson"),
        (as_csv(four), "text/csv"),
    ):
        response = push(anonymous_client, name, token, body, content_type)
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "too_many_rows" and "3" in error["message"]
        kept = inbox / error["details"]["kept"]
        assert kept.read_bytes() == body
        # A pushed body holds personal data: private to the platform's user.
        assert kept.stat().st_mode & 0o777 == 0o600 and inbox.stat().st_mode & 0o777 == 0o700
    three = push(anonymous_client, name, token, json.dumps(entity_rows(3)).encode(), "application/json")
    assert three.status_code == 200, three.text
    assert three.json()["rows"] == 3


def test_a_json_array_is_converted_block_by_block_with_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "_READ_CHARS", 5)  # blocks far smaller than an element
    rows: list[object] = [
        {"序号": "1", "名称": "南山 ] , 商行", "n": 12345678901234567890},
        {"nested": [1, 2, {"x": "}"}]},
        -1.5e3,
        "text",
        None,
    ]
    body = tmp_path / "body.json"
    body.write_text("\ufeff  [\n" + ",\n  ".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n")
    lines, kind = sources.feed_file_of(body, max_rows=10)
    assert kind == "jsonl"
    assert [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()] == rows
    assert lines.stat().st_mode & 0o777 == 0o600
    for broken in ('[{"a": 1}', '[{"a": 1} {"b": 2}]', "[1,]", "[1] x", "[" * 100_000 + "]" * 100_000):
        body.write_text(broken)
        with pytest.raises(sources.InvalidInput, match="not valid JSON"):
            sources.feed_file_of(body, max_rows=10)
