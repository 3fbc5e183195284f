"""The registry (issue 6): buildings, dwellings, rentals, people, legal entities and key-person care tags,
each sunk to its street, community and grid, every field knowing where its value came from."""
