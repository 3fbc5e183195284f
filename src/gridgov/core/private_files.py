"""Files that hold personal data (the SQLite database, rejects files, uploaded and pushed feeds, quarantine
downloads) are readable by the platform's own user only: mode 0600, in folders of mode 0700.

``private_dir`` makes (or tightens) a folder; ``open_private`` creates a file with mode 0600 from the
start (no moment where another user could open it) and tightens an existing one; ``make_private``
tightens a file written by someone else's code (openpyxl, SQLite).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["DIR_MODE", "FILE_MODE", "make_private", "open_private", "private_dir"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder of mode 0700 (made with its parents when missing; the parents keep theirs)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def make_private(path: Path) -> Path:
    """Tighten an existing file to mode 0600 (nothing when it does not exist)."""
    try:
        if path.stat().st_mode & 0o777 != FILE_MODE:
            path.chmod(FILE_MODE)
    except FileNotFoundError:
        pass
    return path


def open_private(path: Path, mode: str = "w", **options: Any) -> IO[Any]:
    """``open(path, mode)`` for writing, the file created with mode 0600 (an existing one tightened)."""
    if not any(flag in mode for flag in "wax"):
        raise ValueError("open_private is for writing")
    flags = os.O_WRONLY | os.O_CREAT
    if "w" in mode:
        flags |= os.O_TRUNC
    if "a" in mode:
        flags |= os.O_APPEND
    if "x" in mode:
        flags |= os.O_EXCL
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
        return os.fdopen(descriptor, mode.replace("x", "w"), **options)
    except BaseException:
        os.close(descriptor)
        raise
