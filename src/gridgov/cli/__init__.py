"""The `gridgov` command line (Typer + Rich)."""
