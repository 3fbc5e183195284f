"""The tasks pages (issue 6): server-rendered views over ``tasks.service``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages"], include_in_schema=False)
