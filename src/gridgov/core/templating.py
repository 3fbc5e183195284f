"""Jinja2 templates for every HTML page, and ``render()``, which gives each page its language.

Templates call ``_("nav.map")`` (and ``_("key", name=...)``) in the request's language,
``static_url("css/app.css")`` for assets and ``json_block(id, data)`` to hand data to scripts:
the Content-Security-Policy allows no inline script, so data travels in
``<script type="application/json">`` blocks that scripts read with ``JSON.parse``.

Domain ``pages.py`` modules import this module; it imports nothing from the domains, so there is no cycle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from gridgov import __version__
from gridgov.core.i18n import (
    LANGUAGE_COOKIE,
    SUPPORTED_LANGUAGES,
    default_language,
    normalize_language,
    pick_language,
    translate,
)

# Templates and static files live with the web shell; this module sits in core so that every domain's
# pages.py can render without importing the web package (which sits below the domains).
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/static"
# A chosen language is remembered for a year; the cookie is not secret, so scripts may read it.
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _context_language(context: Context) -> str:
    lang = context.get("lang")
    if isinstance(lang, str):
        return lang
    request = context.get("request")
    return pick_language(request) if isinstance(request, Request) else default_language()


@pass_context
def _template_translate(context: Context, key: str, **params: Any) -> str:
    return translate(key, _context_language(context), **params)


def static_url(request: Request | None, path: str) -> str:
    """URL of a file under static/, with a version so browsers refetch it after an upgrade.

    The version is the file's modification time: a rebuilt vendor folder or edited script gets a new
    URL, and unchanged files stay cached (intranet links can be slow).
    """
    root = request.scope.get("root_path", "") if request is not None else ""
    clean = path.lstrip("/")
    file = STATIC_DIR / clean
    try:
        version = format(file.stat().st_mtime_ns, "x")
    except OSError:
        version = __version__
    return f"{root}{STATIC_PREFIX}/{clean}?v={version}"


@pass_context
def _template_static_url(context: Context, path: str) -> str:
    request = context.get("request")
    return static_url(request if isinstance(request, Request) else None, path)


def json_block(element_id: str, data: Any) -> Markup:
    """A ``<script type="application/json">`` block: data for scripts without an inline script.

    ``<``, ``>`` and ``&`` are escaped as JSON unicode escapes so no value can close the element.
    """
    payload = (
        json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    safe_id = json.dumps(element_id)  # a quoted attribute value, escaped like any JSON string
    return Markup(f'<script type="application/json" id={safe_id}>{payload}</script>')


def format_number(value: int | float) -> str:
    """1610 → "1,610" in both languages (Chinese government documents group digits the same way)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


templates.env.globals["_"] = _template_translate
templates.env.globals["static_url"] = _template_static_url
templates.env.globals["json_block"] = json_block
templates.env.globals["app_version"] = __version__
templates.env.filters["num"] = format_number


def language_links(request: Request, current: str) -> list[dict[str, Any]]:
    """One link per supported language to the same page and query, with ``lang`` set."""
    links = []
    for code in SUPPORTED_LANGUAGES:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        query.append(("lang", code))
        links.append(
            {
                "code": code,
                # Each language is named in itself, so a reader who cannot read the page still finds theirs.
                "label": translate("lang.self", code),
                # The ASGI path already includes any root_path the app is mounted under.
                "url": f"{request.url.path}?{urlencode(query)}",
                "active": code == current,
            }
        )
    return links


def render(
    request: Request,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    """Render a page in the request's language, with the language links and helpers it needs."""
    lang = pick_language(request)
    page_context: dict[str, Any] = {
        "lang": lang,
        "language_links": language_links(request, lang),
        "current_path": request.url.path,
        # Who is logged in (None on the login page) and the token their forms must carry.
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", None),
    }
    page_context.update(context or {})
    response = templates.TemplateResponse(request, template_name, page_context, status_code=status_code)
    # A language picked through the switch link sticks for the next pages without ?lang= in every URL.
    chosen = normalize_language(request.query_params.get("lang"))
    if chosen and chosen != request.cookies.get(LANGUAGE_COOKIE):
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_MAX_AGE, samesite="lax")
    return response
