"""The area API: tree, detail, GeoJSON, search, locate, uniform errors (SQLite and PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient

DISTRICT = "440305000000"
YUEHAI = "440305007000"


def test_health_reports_the_database(client: TestClient, backend: str) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == backend


def test_tree_has_8_streets_107_communities_and_grid_counts(client: TestClient) -> None:
    tree = client.get("/api/areas").json()
    assert tree["code"] == DISTRICT and tree["level"] == "district"
    assert len(tree["children"]) == 8
    communities = [c for s in tree["children"] for c in s["children"]]
    assert len(communities) == 107
    assert sum(c["grid_count"] for c in communities) == tree["grid_count"] == 1610
    assert all(s["synthetic"] for s in tree["children"])


def test_detail_counts_children_and_ancestors(client: TestClient) -> None:
    district = client.get(f"/api/areas/{DISTRICT}").json()
    assert district["counts"] == {"streets": 8, "communities": 107, "grids": 1610}
    street = client.get(f"/api/areas/{YUEHAI}").json()
    assert street["name"] == "粤海街道" and street["parent_code"] == DISTRICT
    assert street["counts"]["communities"] == len(street["children"])
    community_code = street["children"][0]["code"]
    community = client.get(f"/api/areas/{community_code}").json()
    grid_code = community["children"][0]["code"]
    grid = client.get(f"/api/areas/{grid_code}").json()
    assert grid["level"] == "grid" and grid["synthetic"] is True
    assert [a["code"] for a in grid["ancestors"]] == [DISTRICT, YUEHAI, community_code]


def test_unknown_and_malformed_codes_get_clear_errors(client: TestClient) -> None:
    missing = client.get("/api/areas/440305099000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    malformed = client.get("/api/areas/44030500700")
    assert malformed.status_code == 422
    assert "12 digits" in malformed.json()["error"]["message"]
    assert client.get("/api/areas/not-a-code/grids.geojson").status_code == 422


def test_geojson_children_and_grids(client: TestClient) -> None:
    streets = client.get(f"/api/areas/{DISTRICT}/children.geojson")
    assert streets.headers["content-type"].startswith("application/geo+json")
    assert len(streets.json()["features"]) == 8
    all_grids = client.get(f"/api/areas/{DISTRICT}/grids.geojson").json()["features"]
    assert len(all_grids) == 1610
    props = all_grids[0]["properties"]
    assert {"code", "name", "community_code", "street_code", "sequence", "area_km2", "synthetic"} <= set(
        props
    )
    street_grids = client.get(f"/api/areas/{YUEHAI}/grids.geojson").json()["features"]
    assert 0 < len(street_grids) < 1610
    assert all(f["properties"]["street_code"] == YUEHAI for f in street_grids)


def test_search_by_name_and_code_prefix(client: TestClient) -> None:
    by_name = client.get("/api/areas/search", params={"q": "粤海"}).json()
    assert by_name[0]["code"] == YUEHAI
    by_code = client.get("/api/areas/search", params={"q": "440305007", "limit": 5}).json()
    assert len(by_code) == 5 and all(h["code"].startswith("440305007") for h in by_code)
    assert client.get("/api/areas/search", params={"q": ""}).status_code == 422


def test_locate_inside_outside_and_bad_input(client: TestClient) -> None:
    inside = client.get("/api/locate", params={"lon": 113.9248, "lat": 22.530853}).json()
    assert inside["inside"] and inside["community"]["code"] == "440305002007"
    outside = client.get("/api/locate", params={"lon": 114.1694, "lat": 22.3193}).json()
    assert outside == {**outside, "inside": False, "reason": "outside the district", "grid": None}
    bad_crs = client.get("/api/locate", params={"lon": 113.9, "lat": 22.5, "crs": "bd09"})
    assert bad_crs.status_code == 422 and bad_crs.json()["error"]["code"] == "unknown_crs"
    out_of_range = client.get("/api/locate", params={"lon": 300, "lat": 22.5})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["error"]["details"][0]["field"] == "lon"


def test_security_headers_and_compression(client: TestClient) -> None:
    response = client.get(f"/api/areas/{DISTRICT}/grids.geojson", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_openapi_lists_the_area_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/areas",
        "/api/areas/{code}",
        "/api/areas/{code}/grids.geojson",
        "/api/locate",
        "/health",
    ):
        assert path in paths
