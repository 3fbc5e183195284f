"""Assessment (综合评价): indicators, schemes, rankings, period snapshots, reports; and event statistics."""
