#!/usr/bin/env python3
"""Copy the front-end files the pages need from node_modules into src/gridgov/web/static/vendor/.

Run after ``npm ci --no-audit --no-fund``. The vendor folder is git-ignored: it is produced here from the
versions pinned in package-lock.json, so nothing is copied into the repository by hand and nothing is
fetched from a CDN at run time (government intranets are air-gapped).

Idempotent: each package's vendor folder is rebuilt in a temporary folder and swapped in whole, so a
second run gives the same tree and an interrupted run never leaves a half-copied package behind.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "src" / "gridgov" / "web" / "static" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    # Paths relative to the package folder in node_modules; a folder is copied with its contents.
    files: tuple[str, ...]


# Only what the pages load, plus each licence (the licences travel with the files we ship).
PACKAGES: tuple[Package, ...] = (
    Package(
        "leaflet", ("dist/leaflet.js", "dist/leaflet.js.map", "dist/leaflet.css", "dist/images", "LICENSE")
    ),
    Package("htmx.org", ("dist/htmx.min.js", "LICENSE")),
    # Swagger UI for /docs: FastAPI's default page loads it from a CDN, which an intranet cannot reach.
    # (Its dependency @scarf/scarf is an install-time analytics ping; package.json switches it off.)
    Package(
        "swagger-ui-dist",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"),
    ),
)


class BuildError(Exception):
    pass


def _installed_version(package_dir: Path) -> str:
    manifest = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    return str(manifest["version"])


def build_package(package: Package, node_modules: Path = NODE_MODULES, vendor: Path = VENDOR) -> str:
    source = node_modules / package.name
    if not (source / "package.json").is_file():
        raise BuildError(
            f"{package.name} is not installed in {node_modules}; run `npm ci --no-audit --no-fund` first"
        )
    target = vendor / package.name
    staging = vendor / f".{package.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for relative in package.files:
        src = source / relative
        # dist/ prefixes are dropped so templates refer to vendor/leaflet/leaflet.js; Leaflet's CSS
        # finds its marker images at ./images/ relative to itself, which this layout keeps.
        dest = (
            staging / Path(relative).relative_to("dist")
            if relative.startswith("dist/")
            else staging / relative
        )
        if src.is_dir():
            shutil.copytree(src, dest)
        elif src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
        else:
            shutil.rmtree(staging, ignore_errors=True)
            raise BuildError(
                f"{package.name}: expected {relative} in {source}; has the package layout changed?"
            )
    version = _installed_version(source)
    (staging / "VERSION").write_text(version + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return version


def main() -> int:
    if not NODE_MODULES.is_dir():
        print(
            f"error: {NODE_MODULES} does not exist; run `npm ci --no-audit --no-fund` in {ROOT} first",
            file=sys.stderr,
        )
        return 1
    VENDOR.mkdir(parents=True, exist_ok=True)
    try:
        for package in PACKAGES:
            version = build_package(package)
            print(f"vendor/{package.name} {version}")
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
