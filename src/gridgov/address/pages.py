"""HTML pages of the address library: the search page (type-ahead, detail, pin on the map) and the
address-admin page (create, edit, retire, names, history).

Both are shells: static/js/address.js does the work through the address API. The pages hand the script
its configuration and its translated strings in JSON blocks (the Content-Security-Policy allows no inline
script); every string is translated in the template, so the catalog checks see each key.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gridgov.accounts.deps import require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.i18n import pick_language
from gridgov.core.settings import get_settings
from gridgov.core.templating import render

router = APIRouter(tags=["pages"])

NANSHAN_DISTRICT_CODE = "440305000000"
_ADDRESS_CODE = re.compile(r"^[0-9A-Za-z]{4,40}$")


def _config(request: Request, principal: Principal, code: str | None) -> dict[str, object]:
    root = request.scope.get("root_path", "")
    return {
        "lang": pick_language(request),
        "districtCode": NANSHAN_DISTRICT_CODE,
        "tileUrl": get_settings().tile_url,
        # A malformed code is ignored rather than answered with an error page.
        "code": code if code and _ADDRESS_CODE.match(code) else None,
        "canManage": principal.can(Permission.address_manage),
        "api": {
            "addresses": f"{root}/api/addresses",
            "areas": f"{root}/api/areas",
        },
        "pages": {"search": f"{root}/addresses", "admin": f"{root}/addresses/admin"},
    }


@router.get("/addresses", response_class=HTMLResponse, include_in_schema=False)
def search_page(
    request: Request,
    principal: Annotated[Principal, require_page(Permission.areas_read)],
    code: str | None = None,
) -> Response:
    """Type-ahead search over the standard addresses in my scope; ``?code=`` opens one."""
    return render(
        request,
        "address/search.html",
        {"nav": "addresses", "address_config": _config(request, principal, code)},
    )


@router.get("/addresses/admin", response_class=HTMLResponse, include_in_schema=False)
def admin_page(
    request: Request,
    principal: Annotated[Principal, require_page(Permission.address_manage)],
    code: str | None = None,
) -> Response:
    """Keep the library: create, edit (with a reason), retire, names and the history of one address."""
    config = _config(request, principal, code)
    # Cookie-authenticated API writes must echo the session's CSRF token (X-CSRF-Token).
    config["csrfToken"] = getattr(request.state, "csrf_token", None)
    return render(request, "address/admin.html", {"nav": "address_admin", "address_config": config})
