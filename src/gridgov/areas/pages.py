"""HTML pages of the areas domain: the grid map.

The page is a shell; static/js/map.js draws everything from the areas API (/api/areas...). The page hands
the script its configuration and its translated strings in JSON blocks, because the
Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gridgov.accounts.deps import require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.i18n import catalog_subset, pick_language
from gridgov.core.settings import get_settings
from gridgov.core.templating import render

router = APIRouter(tags=["pages"])

NANSHAN_DISTRICT_CODE = "440305000000"
# Catalog prefixes map.js uses; tests/test_i18n.py checks every key the script names has one of them.
MAP_SCRIPT_PREFIXES: tuple[str, ...] = ("map.", "level.", "events.state.")
# 12-digit district/street/community codes and 15-digit grid codes.
_AREA_CODE = re.compile(r"^\d{12}(\d{3})?$")


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def map_page(
    request: Request,
    principal: Annotated[Principal, require_page(Permission.areas_read)],
    focus: str | None = None,
) -> Response:
    """The grid map; ``?focus=CODE`` opens it drilled into that street, community or grid."""
    root = request.scope.get("root_path", "")
    # A malformed focus is ignored rather than answered with a JSON 422 an operator cannot read;
    # a well-formed code that does not exist is reported by the script on the map itself.
    focus_code = focus if focus and _AREA_CODE.match(focus) else None
    lang = pick_language(request)
    config = {
        "districtCode": NANSHAN_DISTRICT_CODE,
        "focus": focus_code,
        "lang": lang,
        "tileUrl": get_settings().tile_url,
        "api": {
            "areas": f"{root}/api/areas",
            "locate": f"{root}/api/locate",
        },
    }
    if principal.can(Permission.events_read):
        # Events by state on the map, for those who may read them (within their scope: the route's).
        config["api"]["events"] = f"{root}/api/events.geojson"  # type: ignore[index]
        config["eventPage"] = f"{root}/events/"
    return render(
        request,
        "areas/map.html",
        {
            "nav": "map",
            "map_config": config,
            "map_messages": catalog_subset(lang, MAP_SCRIPT_PREFIXES),
        },
    )
