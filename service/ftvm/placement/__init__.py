"""FT-pair placement: the Rust core (`ftvm._placement`) or the OR-Tools CP-SAT fallback, one API.

`create_engine()` returns the Rust engine unless it is missing or `FTVM_PLACEMENT_ENGINE=ortools`.
Every engine has the methods of `PlacementEngine` below and raises the errors of `ftvm.placement.errors`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from .errors import (
    InvalidRequest,
    NoHostAvailable,
    PlacementError,
    ReservationConflict,
    StalePlacement,
    UnknownResource,
)
from .model import (
    DEFAULT_STRATEGY,
    RULES,
    SECONDARY_STORAGE_FACTOR,
    STRATEGIES,
    Config,
    HostSpec,
    Inventory,
    Placement,
    Request,
    StorageSpec,
    Strategy,
    uuid_order_key,
)

__all__ = [
    "Config",
    "HostSpec",
    "StorageSpec",
    "Request",
    "Placement",
    "Inventory",
    "PlacementEngine",
    "PlacementError",
    "InvalidRequest",
    "UnknownResource",
    "NoHostAvailable",
    "ReservationConflict",
    "StalePlacement",
    "RULES",
    "STRATEGIES",
    "Strategy",
    "DEFAULT_STRATEGY",
    "SECONDARY_STORAGE_FACTOR",
    "uuid_order_key",
    "create_engine",
    "engine_names",
]


class PlacementEngine(Protocol):
    # Read-only: the Rust engine's are (a class attribute and a getter), and nobody sets them.
    @property
    def name(self) -> str: ...
    @property
    def config(self) -> Config: ...

    def upsert_host(self, spec: HostSpec) -> None: ...
    def upsert_hosts(self, specs: Sequence[HostSpec]) -> None: ...
    def remove_host(self, uuid: str) -> None: ...
    def upsert_storage(self, spec: StorageSpec) -> None: ...
    def remove_storage(self, uuid: str) -> None: ...
    def set_l3(self, l3_uuid: str, l2_uuid: str) -> None: ...
    def attach_l2(self, cluster_uuid: str, l2_uuid: str) -> None: ...
    def detach_l2(self, cluster_uuid: str, l2_uuid: str) -> None: ...
    def place(self, request: Request) -> Placement: ...
    def reserve(self, key: str, request: Request, placement: Placement) -> None: ...
    def place_and_reserve(self, key: str, request: Request) -> Placement: ...
    def release(self, key: str) -> bool: ...
    def place_many(self, keys: Sequence[str], requests: Sequence[Request]) -> list[Placement | PlacementError]: ...
    def host_usage(self, uuid: str) -> dict[str, int]: ...
    def storage_available(self, uuid: str, host_uuid: str | None = None) -> int: ...
    def reservation_count(self) -> int: ...
    def snapshot(self) -> Inventory: ...
    def copy(self) -> PlacementEngine: ...


def engine_names() -> list[str]:
    """Engines usable here, the default first."""
    names = []
    try:
        from . import rust_engine  # noqa: F401

        names.append("rust")
    except ImportError:
        pass
    names.append("ortools")
    return names


def create_engine(config: Config | None = None, kind: str | None = None) -> PlacementEngine:
    # The returns below are where mypy checks that both engines satisfy PlacementEngine (the Rust one by its stub,
    # ftvm/_placement.pyi).
    kind = kind or os.environ.get("FTVM_PLACEMENT_ENGINE") or engine_names()[0]
    config = config or Config()
    if kind == "rust":
        from .rust_engine import RustEngine

        return RustEngine(config)
    if kind == "ortools":
        from .ortools_engine import OrToolsEngine

        return OrToolsEngine(config)
    raise ValueError(f"unknown placement engine {kind!r}: expected 'rust' or 'ortools'")
