"""Benchmark: locate 1,000,000 random points in Nanshan's 1,610 grids.

Prints points/second for the batch locator (raster index in front of a Shapely STRtree), for the STRtree
alone, and for the baseline — a plain loop asking each grid polygon `contains(point)` — measured on a
sample in the same run, with the ratios. Target: ≥ 1,000,000 points/s.

    python bench/locate.py [--points 1000000] [--baseline-sample 2000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import shapely
from shapely.geometry import Point

from gridgov.areas.locate import OUTSIDE, Locator
from gridgov.areas.synthesis import nanshan_layers

TARGET_POINTS_PER_SECOND = 1_000_000


def plain_contains_loop(polygons: list[shapely.Geometry], lons: np.ndarray, lats: np.ndarray) -> list[int]:
    """The naive way: for each point, try every polygon until one contains it."""
    found = []
    for lon, lat in zip(lons, lats, strict=True):
        point = Point(lon, lat)
        found.append(next((i for i, polygon in enumerate(polygons) if polygon.contains(point)), OUTSIDE))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--baseline-sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    layers = nanshan_layers()
    polygons = [g.geometry for g in layers.grids]
    minx, miny, maxx, maxy = layers.district.geometry.bounds
    rng = np.random.default_rng(args.seed)
    # Random points over the district's bounding box: sea, Hong Kong side and neighbours included.
    lons = rng.uniform(minx, maxx, args.points)
    lats = rng.uniform(miny, maxy, args.points)

    started = time.perf_counter()
    locator = Locator(polygons)
    result = locator.locate_many(lons, lats)
    cold = time.perf_counter() - started  # includes building the STRtree and the raster index

    started = time.perf_counter()
    result = locator.locate_many(lons, lats)
    warm = time.perf_counter() - started

    started = time.perf_counter()
    exact = locator.locate_exact(lons, lats)
    strtree = time.perf_counter() - started
    assert np.array_equal(result, exact), "batch and exact location disagree"

    sample = min(args.baseline_sample, args.points)
    started = time.perf_counter()
    baseline = plain_contains_loop(polygons, lons[:sample], lats[:sample])
    baseline_time = time.perf_counter() - started
    # The naive loop has no tie-break on shared edges; random points never land exactly on one.
    assert baseline == list(result[:sample]), "baseline and locator disagree"

    figures = {
        "points": args.points,
        "inside_share": round(float((result >= 0).mean()), 4),
        "batch_points_per_s_warm": round(args.points / warm),
        "batch_points_per_s_cold": round(args.points / cold),
        "strtree_points_per_s": round(args.points / strtree),
        "baseline_points_per_s": round(sample / baseline_time),
        "baseline_sample": sample,
    }
    figures["ratio_batch_vs_baseline"] = round(
        figures["batch_points_per_s_warm"] / figures["baseline_points_per_s"], 1
    )
    figures["ratio_strtree_vs_baseline"] = round(
        figures["strtree_points_per_s"] / figures["baseline_points_per_s"], 1
    )
    figures["target_points_per_s"] = TARGET_POINTS_PER_SECOND
    figures["target_met"] = figures["batch_points_per_s_warm"] >= TARGET_POINTS_PER_SECOND
    if args.json:
        print(json.dumps(figures))
        return
    width = max(len(k) for k in figures)
    print(f"locate {args.points:,} random points in {len(polygons):,} grids")
    for key, value in figures.items():
        print(
            f"  {key:<{width}}  {value:,}"
            if isinstance(value, int) and not isinstance(value, bool)
            else f"  {key:<{width}}  {value}"
        )


if __name__ == "__main__":
    main()
