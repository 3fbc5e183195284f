"""The registry API (issue 6): thin routes over ``registry.service``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["registry"])
