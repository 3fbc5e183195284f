"""District → street → community → grid: codes, polygons, point location, WGS84/GCJ-02."""
