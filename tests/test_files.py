"""Photo checks of ``core.files``: the pixel count a photo's header declares is refused before decoding."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import pytest
from PIL import Image, ImageFile

from gridgov.core import files
from gridgov.core.errors import InvalidInput
from gridgov.core.settings import get_settings


def png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A greyscale PNG of ``width`` × ``height``; its pixel data all zero (compressed: small in bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if idat is None:
        idat = zlib.compress(bytes(height * (width + 1)), 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """The sizes of the images Pillow decodes (or verifies: reads all of) during the test."""
    seen: list[tuple[int, int]] = []
    load, verify = ImageFile.ImageFile.load, Image.Image.verify

    def counted_load(self: ImageFile.ImageFile) -> object:
        seen.append(self.size)
        return load(self)

    def counted_verify(self: Image.Image) -> None:
        seen.append(self.size)
        verify(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted_load)
    monkeypatch.setattr(Image.Image, "verify", counted_verify)
    yield seen


def test_a_7000_by_7000_png_is_refused_before_it_is_decoded(decoded: list[tuple[int, int]]) -> None:
    data = png(7000, 7000)  # 49 million pixels in ~0.2 MB
    assert len(data) < files.MAX_PHOTO_BYTES // 10
    with pytest.raises(InvalidInput, match="too many pixels"):
        files.clean_photo(data)
    assert decoded == []


def test_a_header_declaring_a_billion_pixels_is_refused_as_too_many_pixels(
    decoded: list[tuple[int, int]],
) -> None:
    data = png(40_000, 40_000, idat=zlib.compress(b"\x00" * 1000))  # Pillow's own guard trips first
    with pytest.raises(InvalidInput, match="too many pixels"):
        files.clean_photo(data)
    assert decoded == []


def test_the_cap_is_configurable_and_a_photo_under_it_is_kept(
    monkeypatch: pytest.MonkeyPatch, decoded: list[tuple[int, int]]
) -> None:
    small = png(400, 300)
    monkeypatch.setenv("GRIDGOV_MAX_PHOTO_PIXELS", "100000")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidInput, match="400 × 300"):
            files.clean_photo(small)  # 120,000 pixels
        monkeypatch.setenv("GRIDGOV_MAX_PHOTO_PIXELS", "120000")
        get_settings.cache_clear()
        stored, kind = files.clean_photo(small)
    finally:
        monkeypatch.delenv("GRIDGOV_MAX_PHOTO_PIXELS")
        get_settings.cache_clear()
    assert kind == "PNG"
    with Image.open(__import__("io").BytesIO(stored)) as image:
        assert image.size == (400, 300)
    assert (400, 300) in decoded
