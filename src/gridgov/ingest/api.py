"""The ingest API (issue 6): thin routes over ``ingest.service``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["ingest"])
