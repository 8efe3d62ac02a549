"""Typed placement errors, raised alike by every engine (the Rust core imports these classes)."""

from __future__ import annotations


class PlacementError(Exception):
    """Base of every placement error."""


class InvalidRequest(PlacementError, ValueError):
    """The request itself is malformed (non-positive size, unknown strategy, ...)."""


class UnknownResource(PlacementError, LookupError):
    def __init__(self, kind: str, uuid: str) -> None:
        super().__init__(f"{kind}[uuid:{uuid}] is not known to the placement engine")
        self.kind = kind
        self.uuid = uuid


class NoHostAvailable(PlacementError):
    """No host pair satisfies the rules.

    phase: "primary" or "secondary" (which VM found no host); rule: the rule that emptied the candidate set;
    removed: hosts removed per rule, in pipeline order (a host counts against the first rule that rejects it);
    considered: hosts examined.
    """

    def __init__(self, phase: str, rule: str, removed: dict[str, int], considered: int) -> None:
        counts = ", ".join(f"{name}={n}" for name, n in removed.items() if n)
        super().__init__(
            f"no host for the {phase} VM: rule {rule} removed the last candidates "
            f"({considered} hosts considered; removed by rule: {counts or 'none'})"
        )
        self.phase = phase
        self.rule = rule
        self.removed = removed
        self.considered = considered


class ReservationConflict(PlacementError):
    def __init__(self, key: str) -> None:
        super().__init__(f"reservation {key!r} already exists")
        self.key = key


class StalePlacement(PlacementError):
    """reserve() was given a placement that no longer fits the current inventory."""
