"""Block data intake (issue 6): sources and their mapping specs, feed readers, and the import pipeline."""
