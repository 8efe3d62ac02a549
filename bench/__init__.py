"""The lab: benchmarks of the ftvm product and the peers they compare it with (not part of the `ftvm` wheel).

    ftvm bench placement ...     (or python -m bench.placement ...)  the placement engines side by side
    ftvm bench service ...       (or python -m bench.service ...)    CreateFaultToleranceVmInstance against `ftvm serve`

Modules: placement.py and service.py (the two benchmark drivers), inventory.py (synthetic placement inventories and
request streams), numpy_engine.py (the vectorised numpy peer), nova_peer.py (OpenStack Nova's filter scheduler).
Needs the `bench` extra (numpy, tqdm) and, for the Nova peer and HiGHS, `bench-peers`: from a checkout,
`pip install -e '.[bench,bench-peers]'`.
"""
