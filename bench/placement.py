#!/usr/bin/env python3
"""Placement benchmark: thin wrapper around `ftvm bench placement` (see ftvm/bench/placement.py).

    python bench/placement.py --hosts 1000,10000 --json
"""

import os
import sys

try:
    from ftvm.bench.placement import main
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "service"))
    from ftvm.bench.placement import main

if __name__ == "__main__":
    sys.exit(main())
