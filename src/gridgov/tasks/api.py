"""The tasks API (issue 6): thin routes over ``tasks.service``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tasks"])
