"""Translations: catalogs complete in both languages, negotiation order, fallback, and the page helpers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.requests import Request

from gridgov.areas.pages import MAP_SCRIPT_PREFIXES
from gridgov.core import i18n
from gridgov.core.i18n import (
    DEFAULT_LANGUAGE,
    SUPPORTED_LANGUAGES,
    catalog_subset,
    load_catalog,
    normalize_language,
    pick_language,
    translate,
)
from gridgov.core.settings import get_settings
from gridgov.core.templating import TEMPLATES_DIR, json_block, static_url

SRC = Path(i18n.__file__).resolve().parents[1]  # src/gridgov
JS_DIR = SRC / "web" / "static" / "js"

# _("key") or _('key') in templates, optionally followed by parameters.
TEMPLATE_KEY = re.compile(r"""\b_\(\s*(["'])([^"']+)\1""")
# translate("key", ...) in Python.
PYTHON_KEY = re.compile(r"""\btranslate\(\s*(["'])([^"']+)\1""")
# t("key") calls in scripts, and any string literal shaped like a key with a prefix the map page sends
# (scripts also keep keys in lookup tables, e.g. LEVEL_LABEL).
SCRIPT_CALL = re.compile(r"""\bt\(\s*(["'])([^"']+)\1""")
_PREFIXES = "|".join(re.escape(prefix) for prefix in MAP_SCRIPT_PREFIXES)
SCRIPT_LITERAL = re.compile(r"""(["'])((?:""" + _PREFIXES + r""")[A-Za-z0-9_.]+)\1""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def template_keys() -> set[str]:
    keys = set()
    for path in TEMPLATES_DIR.rglob("*.html"):
        keys |= {match[1] for match in TEMPLATE_KEY.findall(path.read_text(encoding="utf-8"))}
    return keys


def python_keys() -> set[str]:
    keys = set()
    for path in SRC.rglob("*.py"):
        keys |= {match[1] for match in PYTHON_KEY.findall(path.read_text(encoding="utf-8"))}
    return keys


def script_keys() -> tuple[set[str], set[str]]:
    calls: set[str] = set()
    literals: set[str] = set()
    for path in JS_DIR.rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        calls |= {match[1] for match in SCRIPT_CALL.findall(text)}
        literals |= {match[1] for match in SCRIPT_LITERAL.findall(text)}
    return calls, literals


# ---- the catalogs ----------------------------------------------------------------------------------


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    chinese, english = load_catalog("zh-CN"), load_catalog("en")
    assert sorted(set(chinese) ^ set(english)) == []
    for key, message in chinese.items():
        assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(english[key])), key
        assert message.strip() and english[key].strip(), key


def test_every_key_used_in_templates_exists_in_both_languages() -> None:
    used = template_keys()
    assert "nav.map" in used  # the scan itself works
    for lang in SUPPORTED_LANGUAGES:
        assert sorted(used - set(load_catalog(lang))) == [], lang


def test_every_key_used_in_python_exists_in_both_languages() -> None:
    used = python_keys()
    assert "lang.self" in used
    for lang in SUPPORTED_LANGUAGES:
        assert sorted(used - set(load_catalog(lang))) == [], lang


def test_every_key_the_map_script_uses_is_sent_to_it_and_exists() -> None:
    calls, literals = script_keys()
    assert "map.synthetic.badge" in calls and "level.grid" in literals
    # t("...") with a key outside the prefixes the page sends would show the raw key.
    assert sorted(k for k in calls if not k.startswith(MAP_SCRIPT_PREFIXES)) == []
    for lang in SUPPORTED_LANGUAGES:
        assert sorted((calls | literals) - set(load_catalog(lang))) == [], lang


def test_no_catalog_key_is_unused() -> None:
    calls, literals = script_keys()
    used = template_keys() | python_keys() | calls | literals
    assert sorted(set(load_catalog(DEFAULT_LANGUAGE)) - used) == []


# ---- translate ---------------------------------------------------------------------------------------


@pytest.fixture
def fake_catalogs(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogs: dict[str, Mapping[str, str]] = {
        "zh-CN": {"greet": "你好，{name}", "only.zh": "仅中文", "bad": "{missing}"},
        "en": {"greet": "Hello, {name}"},
    }
    monkeypatch.setattr(i18n, "load_catalog", lambda lang: catalogs[lang])


@pytest.mark.usefixtures("fake_catalogs")
def test_translate_fills_parameters_and_falls_back_to_chinese() -> None:
    assert translate("greet", "zh-CN", name="南山") == "你好，南山"
    assert translate("greet", "en", name="Nanshan") == "Hello, Nanshan"
    assert translate("only.zh", "en") == "仅中文"
    # Unknown or odd language tags get Chinese, the default.
    assert translate("greet", "fr", name="x") == "你好，x"
    assert translate("greet", "en-GB", name="x") == "Hello, x"
    assert i18n._("greet", "en", name="y") == "Hello, y"


@pytest.mark.usefixtures("fake_catalogs")
def test_a_key_missing_everywhere_shows_the_key_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gridgov.core.i18n"):
        assert translate("no.such.key", "en") == "no.such.key"
        assert translate("bad", "zh-CN", other=1) == "{missing}"
    assert "no.such.key" in caplog.text and "bad" in caplog.text


def test_catalog_subset_is_what_the_map_script_gets() -> None:
    subset = catalog_subset("en", MAP_SCRIPT_PREFIXES)
    assert subset["level.grid"] == "Grid"
    assert all(key.startswith(MAP_SCRIPT_PREFIXES) for key in subset)
    assert "nav.map" not in subset


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh_cn", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("ZH-TW", "zh-CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_language(tag: str | None, expected: str | None) -> None:
    assert normalize_language(tag) == expected


# ---- negotiation ---------------------------------------------------------------------------------------


def make_request(query: str = "", cookie: str | None = None, accept: str | None = None) -> Request:
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"lang={cookie}".encode()))
    if accept is not None:
        headers.append((b"accept-language", accept.encode()))
    return Request(
        {"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": headers}
    )


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("", None, None, "zh-CN"),
        ("", None, "en-US,en;q=0.9", "en"),
        ("", None, "fr-FR,en;q=0.5", "en"),
        ("", None, "fr-FR,de;q=0.5", "zh-CN"),
        ("", None, "en;q=0.4,zh-CN;q=0.8", "zh-CN"),
        ("", None, "en;q=0", "zh-CN"),
        ("", "en", "zh-CN", "en"),
        ("lang=zh-CN", "en", "en", "zh-CN"),
        ("lang=en", None, "zh-CN", "en"),
        ("lang=xx", "en", None, "en"),
        ("", "garbage", "en", "en"),
    ],
)
def test_pick_language_query_then_cookie_then_accept_language(
    query: str, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert pick_language(make_request(query, cookie, accept)) == expected


# ---- page helpers ---------------------------------------------------------------------------------------


def test_json_block_cannot_be_closed_by_its_data() -> None:
    block = str(json_block("cfg", {"name": "</script><script>alert(1)</script>", "amp": "a&b"}))
    assert block.startswith('<script type="application/json" id="cfg">')
    assert block.count("</script>") == 1
    payload = block.removeprefix('<script type="application/json" id="cfg">').removesuffix("</script>")
    assert json.loads(payload) == {"name": "</script><script>alert(1)</script>", "amp": "a&b"}


def test_static_url_is_versioned_so_upgrades_reach_browsers() -> None:
    url = static_url(None, "css/app.css")
    assert re.fullmatch(r"/static/css/app\.css\?v=[0-9a-f]+", url)


# ---- rendered pages ---------------------------------------------------------------------------------------


@pytest.fixture
def empty_client(empty_engine_factory: Callable[[str], Engine]) -> Iterator[TestClient]:
    """The real app on a migrated database with no areas: pages must still render, and say why."""
    from gridgov.accounts import service
    from gridgov.accounts.permissions import Role
    from gridgov.areas.scope import WHOLE_DISTRICT
    from gridgov.core.db import session_factory
    from gridgov.web.app import create_app

    engine = empty_engine_factory("sqlite")
    with session_factory(engine)() as session:
        admin = service.create_user(
            session,
            service.NewUser(
                username="first.admin", password="first-admin-42", role=Role.admin, scope=WHOLE_DISTRICT
            ),
        )
        token = service.issue_token(session, admin, name="tests").token
        session.commit()
    with TestClient(create_app(engine), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_home_renders_in_chinese_by_default_and_english_on_request(empty_client: TestClient) -> None:
    chinese = empty_client.get("/")
    assert chinese.status_code == 200
    assert '<html lang="zh-CN">' in chinese.text
    assert "网格化社会治理平台" in chinese.text and "gridgov demo load" in chinese.text
    assert "lang" not in chinese.cookies

    english = empty_client.get("/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Grid-based Social Governance Platform" in english.text
    assert english.cookies.get("lang") == "en"
    # The cookie now carries the choice to a page without ?lang=.
    assert '<html lang="en">' in empty_client.get("/map").text
    empty_client.cookies.clear()


def test_language_links_keep_the_rest_of_the_query(empty_client: TestClient) -> None:
    page = empty_client.get("/map?focus=440305003000", headers={"accept-language": "en"}).text
    assert 'href="/map?focus=440305003000&amp;lang=zh-CN"' in page
    assert 'href="/map?focus=440305003000&amp;lang=en"' in page


def _json_block(page: str, element_id: str) -> dict[str, object]:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page)
    assert match, element_id
    return dict(json.loads(match.group(1)))


def test_map_page_hands_the_script_its_config_and_strings(empty_client: TestClient) -> None:
    page = empty_client.get("/map?focus=440305003000").text
    config = _json_block(page, "map-config")
    assert config["districtCode"] == "440305000000"
    assert config["focus"] == "440305003000"
    assert config["tileUrl"] == ""
    # The administrator reads events: the map draws them by state.
    assert config["api"] == {"areas": "/api/areas", "locate": "/api/locate", "events": "/api/events.geojson"}
    assert config["eventPage"] == "/events/"
    messages = _json_block(page, "map-messages")
    assert messages["map.synthetic.badge"].startswith("合成边界")
    # No inline script and no style attribute: the CSP forbids both.
    for tag in re.findall(r"<script[^>]*>", page):
        assert " src=" in tag or 'type="application/json"' in tag, tag
    assert " style=" not in page
    assert " on" + "click=" not in page


def test_map_page_ignores_a_malformed_focus(empty_client: TestClient) -> None:
    config = _json_block(empty_client.get("/map?focus=<script>").text, "map-config")
    assert config["focus"] is None


def test_map_page_passes_a_configured_tile_server(
    empty_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDGOV_TILE_URL", "http://tiles.intranet.local/{z}/{x}/{y}.png")
    get_settings.cache_clear()
    try:
        config = _json_block(empty_client.get("/map").text, "map-config")
    finally:
        monkeypatch.delenv("GRIDGOV_TILE_URL")
        get_settings.cache_clear()
    assert config["tileUrl"] == "http://tiles.intranet.local/{z}/{x}/{y}.png"
