"""ZStack error codes (spec §5) as one exception type that carries the whole ErrorCode.

The domain raises `FtError`; the API layer maps `code` to a gRPC status and ships the ErrorCode (with its nested
`cause`) in the rich status details, so clients and the REST gateway can rebuild ZStack's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DESCRIPTIONS = {
    "SYS.1000": "An internal error happened in system",
    "SYS.1003": "A resource can not be found",
    "SYS.1006": "An operation failed",
    "SYS.1007": "One or more API argument is invalid",
    "HOST_ALLOCATION.1000": "No available host found",
    "L3.1000": "Unable to allocate an ip address from L3Network",
    "ID.1000": "Unable to authenticate a user",
    "ID.1001": "The session is invalid, either wrong session id or the session has been expired",
    "ID.1002": "Permission denied",
}


@dataclass(eq=False)
class FtError(Exception):
    code: str
    details: str
    cause: "FtError | None" = None
    opaque: dict[str, Any] = field(default_factory=dict)
    # ALREADY_EXISTS is a SYS.1007 to ZStack but its own gRPC status here (spec §5: a taken resourceUuid).
    already_exists: bool = False
    # UNAVAILABLE: the database cannot be reached; the same call may succeed when retried.
    unavailable: bool = False

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.details}")

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.code]

    @property
    def root(self) -> "FtError":
        """The innermost cause: the error that decides the gRPC status."""
        err = self
        while err.cause is not None:
            err = err.cause
        return err

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "details": self.details,
            "elaboration": None,
            "opaque": self.opaque or None,
            "cause": self.cause.to_dict() if self.cause else None,
        }


def invalid(details: str) -> FtError:
    return FtError("SYS.1007", details)


def mandatory(field_name: str, message: str) -> FtError:
    return invalid(f"field[{field_name}] of message[{message}] is mandatory, can not be null")


def not_found(field_name: str, uuid: str, kind: str) -> FtError:
    return FtError("SYS.1003", f"invalid field[{field_name}], resource[uuid:{uuid}, type:{kind}] not found")


def operation_failed(details: str, cause: FtError | None = None) -> FtError:
    return FtError("SYS.1006", details, cause=cause)


def internal(details: str) -> FtError:
    return FtError("SYS.1000", details)


def already_exists(kind: str, uuid: str) -> FtError:
    return FtError("SYS.1007", f"resource[uuid:{uuid}, type:{kind}] already exists; resourceUuid must be unique",
                   already_exists=True)


def database_unavailable(reason: str) -> FtError:
    return FtError("SYS.1006", f"the database is unavailable: {reason}", unavailable=True)


def permission_denied(details: str) -> FtError:
    return FtError("ID.1002", details)
