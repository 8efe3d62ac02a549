#!/usr/bin/env python3
"""Service benchmark: thin wrapper around `ftvm bench service` (see ftvm/bench/service.py).

    python bench/service.py --concurrency 1,8,32,64 --requests 2000 --json
"""

import os
import sys

try:
    from ftvm.bench.service import main
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "service"))
    from ftvm.bench.service import main

if __name__ == "__main__":
    sys.exit(main())
