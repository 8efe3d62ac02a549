"""ZStack error codes (spec §5) as one exception type that carries the whole ErrorCode.

The domain raises `FtError`; the API layer (`ftvm.api.errors`) maps `code` to a gRPC status and to ZStack's
description of the code, and ships the ErrorCode (with its nested `cause`) in the rich status details, so clients
and the REST gateway can rebuild ZStack's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class FtError(Exception):
    code: str
    details: str
    cause: FtError | None = None
    opaque: dict[str, Any] = field(default_factory=dict)
    # ALREADY_EXISTS is a SYS.1007 to ZStack but its own gRPC status here (spec §5: a taken resourceUuid).
    already_exists: bool = False
    # UNAVAILABLE: the database cannot be reached; the same call may succeed when retried.
    unavailable: bool = False

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.details}")

    @property
    def root(self) -> FtError:
        """The innermost cause: the error that decides the gRPC status."""
        err = self
        while err.cause is not None:
            err = err.cause
        return err


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
    return FtError(
        "SYS.1007",
        f"resource[uuid:{uuid}, type:{kind}] already exists; resourceUuid must be unique",
        already_exists=True,
    )


def database_unavailable(reason: str) -> FtError:
    return FtError("SYS.1006", f"the database is unavailable: {reason}", unavailable=True)


def permission_denied(details: str) -> FtError:
    return FtError("ID.1002", details)
