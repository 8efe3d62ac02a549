"""FtError -> gRPC status with the full ZStack ErrorCode in the rich status details (google.rpc.Status).

Depends on the proto only (FtError is a type hint here), so the standalone REST gateway can use the descriptions
and read the ErrorCode without importing the domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from google.protobuf import struct_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from ftvm._proto.zstack.ft.v1 import types_pb2

if TYPE_CHECKING:
    from ftvm.domain.errors import FtError

# ZStack's description of each code, as its ErrorCode carries it.
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

_STATUS_BY_CODE = {
    "SYS.1000": grpc.StatusCode.INTERNAL,
    "SYS.1003": grpc.StatusCode.NOT_FOUND,
    "SYS.1006": grpc.StatusCode.FAILED_PRECONDITION,
    "SYS.1007": grpc.StatusCode.INVALID_ARGUMENT,
    "HOST_ALLOCATION.1000": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "L3.1000": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "ID.1000": grpc.StatusCode.UNAUTHENTICATED,
    "ID.1001": grpc.StatusCode.UNAUTHENTICATED,
    "ID.1002": grpc.StatusCode.PERMISSION_DENIED,
}


def grpc_code(error: FtError) -> grpc.StatusCode:
    """By family: the innermost cause decides (a SYS.1006 caused by no capacity is RESOURCE_EXHAUSTED)."""
    if error.already_exists:
        return grpc.StatusCode.ALREADY_EXISTS
    if error.unavailable:
        return grpc.StatusCode.UNAVAILABLE
    return _STATUS_BY_CODE[error.root.code]


# The status travels in trailing metadata, which gRPC caps at 16 KiB: a details text that echoes a huge value
# would turn the typed error into a bare RESOURCE_EXHAUSTED. Every message is cut to this length.
MAX_DETAILS_CHARS = 2048


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAILS_CHARS else text[:MAX_DETAILS_CHARS] + " ...(cut)"


def error_code_message(error: FtError) -> types_pb2.ErrorCode:
    opaque = None
    if error.opaque:
        opaque = struct_pb2.Struct()
        opaque.update(error.opaque)
    return types_pb2.ErrorCode(
        code=error.code,
        description=DESCRIPTIONS[error.code],
        details=_clip(error.details),
        opaque=opaque,
        cause=error_code_message(error.cause) if error.cause else None,
    )


def to_status(error: FtError) -> grpc.Status:
    detail = status_pb2.Status()
    code = grpc_code(error)
    detail.code = code.value[0]
    detail.message = _clip(f"{error.code}: {error.details}")
    detail.details.add().Pack(error_code_message(error))
    return rpc_status.to_status(detail)


def error_from_status_details(details: bytes) -> types_pb2.ErrorCode | None:
    """The ErrorCode a client finds in `grpc-status-details-bin` trailing metadata (None if absent)."""
    status = status_pb2.Status.FromString(details)
    for any_detail in status.details:
        if any_detail.Is(types_pb2.ErrorCode.DESCRIPTOR):
            out = types_pb2.ErrorCode()
            any_detail.Unpack(out)
            return out
    return None
