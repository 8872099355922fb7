"""The dashboard page served in a process of its own, for ``bench all``: this process logs in and
renders the provincial dashboard (AppTest: the page's full script run server side, as the server
runs it) on two databases, then prints one JSON line with the figures and its own peak resident
memory (``ru_maxrss``), so that the memory is that of a process serving pages and nothing else.

    python -m portal.benchmarks.page_process LARGE_URL SMALL_URL RUNS
"""

from __future__ import annotations

import json
import sys

from portal.benchmarks.dashboard import _ensure_secrets, measure_page, peak_resident_mb
from portal.services.demo import DEFAULT_DEMO_PASSWORD


def main(argv: list[str]) -> None:
    large_url, small_url, runs = argv[0], argv[1], int(argv[2])
    _ensure_secrets()
    small = measure_page(small_url, "small", runs, "demo-province", DEFAULT_DEMO_PASSWORD)
    large = measure_page(large_url, "large", runs, "demo-province", DEFAULT_DEMO_PASSWORD)
    figures = {
        name: {
            "institutions": f.institutions,
            "children": f.children,
            "page_ms": f.page_ms,
            "database_ms": f.database_ms,
        }
        for name, f in (("large", large), ("small", small))
    }
    print(json.dumps({**figures, "peak_mb": peak_resident_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
