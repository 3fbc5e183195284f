"""gridgov: grid-based urban governance (网格化社会治理) — one base, four lines."""

__version__ = "0.1.0"
