"""Translations: one function for every UI string, Chinese (zh-CN) first and English second.

Catalogs are flat JSON files in ``locales/`` (``"nav.map": "网格地图"``): ``<lang>.json`` and, per domain,
``<lang>.<domain>.json`` (``zh-CN.registry.json``), merged; a key defined twice is refused. Messages use
``{name}`` placeholders filled from keyword arguments. A key missing in English falls back to Chinese, the
language every string is written in first; a key missing everywhere is a bug (tests/test_i18n.py
scans templates and scripts for it), so at run time it is logged and the key itself is shown rather
than breaking the page an operator is working in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.requests import Request

from gridgov.core.settings import get_settings

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "zh-CN"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("zh-CN", "en")
LANGUAGE_COOKIE = "lang"

# Primary subtags we accept in ?lang=, the cookie and Accept-Language; every Chinese variant maps to
# zh-CN because the catalog is simplified Chinese (traditional input is converted elsewhere).
_BY_PRIMARY = {"zh": "zh-CN", "en": "en"}


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def load_catalog(lang: str) -> Mapping[str, str]:
    merged: dict[str, str] = {}
    for path in [LOCALES_DIR / f"{lang}.json", *sorted(LOCALES_DIR.glob(f"{lang}.*.json"))]:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError(f"{path}: a catalog is a flat object of strings")
        twice = sorted(set(data) & set(merged))
        if twice:
            raise ValueError(f"{path}: keys already defined in another {lang} catalog file: {twice[:5]}")
        merged.update(data)
    return merged


def normalize_language(value: str | None) -> str | None:
    """Map a language tag ("zh", "zh_CN", "zh-Hans-CN", "en-US") to a supported language, or None."""
    if not value:
        return None
    tag = value.strip().replace("_", "-")
    for supported in SUPPORTED_LANGUAGES:
        if tag.lower() == supported.lower():
            return supported
    return _BY_PRIMARY.get(tag.split("-", 1)[0].lower())


def translate(key: str, lang: str, /, **params: Any) -> str:
    """The message for ``key`` in ``lang`` with ``{placeholders}`` filled from ``params``."""
    language = normalize_language(lang) or DEFAULT_LANGUAGE
    message = load_catalog(language).get(key)
    if message is None and language != DEFAULT_LANGUAGE:
        message = load_catalog(DEFAULT_LANGUAGE).get(key)
    if message is None:
        log.error("translation key %r is missing from every catalog", key)
        return key
    if not params:
        return message
    try:
        return message.format_map(params)
    except (KeyError, IndexError, ValueError):
        # A wrong placeholder is a catalog bug; show the raw message rather than fail the page.
        log.error("translation %r in %s does not fit parameters %s", key, language, sorted(params))
        return message


_ = translate


def catalog_subset(lang: str, prefixes: Iterable[str]) -> dict[str, str]:
    """The messages whose keys start with one of ``prefixes``, for handing to a script as JSON.

    Keys missing in ``lang`` come from zh-CN, so scripts see the same fallback as templates.
    """
    language = normalize_language(lang) or DEFAULT_LANGUAGE
    wanted = tuple(prefixes)
    merged = {**load_catalog(DEFAULT_LANGUAGE), **load_catalog(language)}
    return {key: value for key, value in sorted(merged.items()) if key.startswith(wanted)}


def _accept_language(header: str) -> list[str]:
    """Languages from an Accept-Language header, best first (RFC 9110 quality values)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for parameter in pieces[1:]:
            name, _sep, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _q, _p, tag in sorted(ranked)]


def default_language() -> str:
    return normalize_language(get_settings().default_language) or DEFAULT_LANGUAGE


def pick_language(request: Request) -> str:
    """``?lang=``, then the ``lang`` cookie, then Accept-Language, then the configured default (zh-CN)."""
    explicit = normalize_language(request.query_params.get("lang")) or normalize_language(
        request.cookies.get(LANGUAGE_COOKIE)
    )
    if explicit:
        return explicit
    for tag in _accept_language(request.headers.get("accept-language", "")):
        language = normalize_language(tag)
        if language:
            return language
    return default_language()
