"""The synthetic Nanshan world used by the demo, the tests and the benchmarks.

``gridgov.demo.generate.generate_world`` writes the files departments would hand over (address
library, self-declared residents, rentals, business register, 12345 hotline and grid reports)
plus ground-truth files and a manifest. Everything about people, companies and events is
synthetic; only place names, codes and the district outline are real (see ``data/ATTRIBUTION.md``).
"""
