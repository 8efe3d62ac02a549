"""Stubs of the compiled Rust placement engine (placement_core built with the `python` feature).

Its methods are those of `ftvm.placement.PlacementEngine`, with the errors of `ftvm.placement.errors`.
"""

from ftvm.placement import PlacementEngine
from ftvm.placement.model import Config

class Engine(PlacementEngine):
    def __init__(self, config: Config | None = None) -> None: ...
