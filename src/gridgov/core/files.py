"""Small file helpers shared by every domain: file digests, and photos taken in the field.

``store_photo`` is the one way a photo enters the platform (an event's snapshot, a verification task's
evidence): it checks the type by the bytes themselves (never by name or declared type), the size and the
pixel count, strips every piece of metadata — EXIF with the phone's GPS position among it, comments,
XMP — keeping only the orientation it gave, and stores the clean copy content-addressed under
``<var>/photos/ab/abcdef….jpg`` (named by the SHA-256 of the stored copy: the same photo twice is stored
once). Callers keep the returned digest and type in their own tables.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gridgov.core.errors import InvalidInput

#: Largest photo accepted (phones send 2–6 MB; a bigger file is a video or a scan, not a snapshot).
MAX_PHOTO_BYTES: Final = 10 * 1024 * 1024
#: Pillow's format name → (MIME type, file extension).
PHOTO_FORMATS: Final = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (feeds can be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredPhoto:
    """A photo as stored: the SHA-256 of the clean copy, its MIME type and its size in bytes."""

    sha256: str
    mime: str
    size: int


def photo_dir() -> Path:
    """Where photos are kept: ``<var>/photos``."""
    from gridgov.core.settings import get_settings

    return get_settings().var_dir / "photos"


def photo_file(sha256: str, mime: str, directory: Path | None = None) -> Path:
    """The stored file of a photo, from its digest and MIME type (under ``directory``, default
    ``photo_dir()``)."""
    extension = next(ext for known, ext in PHOTO_FORMATS.values() if known == mime)
    return (directory or photo_dir()) / sha256[:2] / f"{sha256}.{extension}"


def max_photo_pixels() -> int:
    """The largest photo accepted, in pixels (``GRIDGOV_MAX_PHOTO_PIXELS``, default 24 million: a 6000 × 4000
    phone photo). Decoding costs CPU in proportion (a 7000 × 7000 PNG took 3.6 s), and a decompression bomb
    is small in bytes and huge in pixels: the size its header declares is checked before anything is
    decoded."""
    from gridgov.core.settings import get_settings

    return get_settings().max_photo_pixels


def _too_many_pixels(size: str, max_pixels: int) -> InvalidInput:
    return InvalidInput(f"The photo has too many pixels ({size}; at most {max_pixels:,} are accepted)")


def clean_photo(data: bytes) -> tuple[bytes, str]:
    """The photo re-encoded without metadata, and its Pillow format; ``InvalidInput`` when it is empty,
    too large, has too many pixels or is not a JPEG, PNG or WebP (judged by its bytes)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidInput("The photo is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(f"The photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    max_pixels = max_photo_pixels()
    # Pillow's own guard as a second line (it warns above the cap and refuses at twice the cap on opening).
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only: the size, not the pixels
            kind = probe.format or ""
            if kind not in PHOTO_FORMATS:
                raise InvalidInput(f"Photos are JPEG, PNG or WebP, not {kind or 'this kind of file'}")
            if probe.width * probe.height > max_pixels:
                raise _too_many_pixels(f"{probe.width} × {probe.height}", max_pixels)
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image)  # keep the orientation the metadata gave, drop the rest
            clean = io.BytesIO()
            options: dict[str, Any] = {"quality": 90} if kind in ("JPEG", "WEBP") else {}
            upright.save(clean, format=kind, **options)  # saved without exif, comments or XMP
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels("far more", max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput("That file is not a photo we can read (JPEG, PNG or WebP)") from exc
    return clean.getvalue(), kind


def store_photo(data: bytes, *, directory: Path | None = None) -> StoredPhoto:
    """Check, strip and store a photo (see the module docstring) under ``directory`` (default
    ``photo_dir()``); the same photo twice is stored once."""
    stored, kind = clean_photo(data)
    digest = hashlib.sha256(stored).hexdigest()
    mime, _extension = PHOTO_FORMATS[kind]
    target = photo_file(digest, mime, directory)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(stored)
        partial.replace(target)
    return StoredPhoto(sha256=digest, mime=mime, size=len(stored))
