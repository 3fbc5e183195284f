"""Grid-worker tasks: verify, inspect, visit — a target referenced by kind and id, so any line can make
one."""
