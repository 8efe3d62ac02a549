"""Rows (dicts keyed by proto field name) to proto messages, and Query*Request messages to the domain's QueryRequest.

A per-class plan decides, once, how each column becomes a field: dates (epoch ms) become Timestamps, booleans
stored as 0/1 become bools, None leaves the field unset, columns the message lacks are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from ftvm.domain.query import QueryRequest

_Plan = dict[str, Callable[[Any], Any] | None]
M = TypeVar("M", bound=Message)
_plans: dict[type[Message], _Plan] = {}


@lru_cache(maxsize=4096)
def _timestamp(ms: int) -> Timestamp:
    """Shared safely: a message given to a constructor is copied into it. Rows of one create share their dates."""
    return Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def _plan(cls: type[Message]) -> _Plan:
    plan = _plans.get(cls)
    if plan is None:
        plan = _plans[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type[Message]) -> _Plan:
    plan: _Plan = {}
    for f in cls.DESCRIPTOR.fields:
        if f.message_type is not None and f.message_type.full_name == "google.protobuf.Timestamp":
            plan[f.name] = _timestamp
        elif f.is_repeated or f.message_type is not None:
            continue  # nested lists and messages are filled by the caller
        elif f.type == FieldDescriptor.TYPE_BOOL:
            plan[f.name] = bool
        else:
            plan[f.name] = None
    return plan


def to_message(cls: type[M], row: Mapping[str, Any], **nested: Any) -> M:
    plan = _plan(cls)
    kwargs = {}
    for name, value in row.items():
        if value is None or name not in plan:
            continue
        convert = plan[name]
        kwargs[name] = value if convert is None else convert(value)
    kwargs.update(nested)
    return cls(**kwargs)


def optional(request: Message | QueryMessage, name: str) -> Any:
    """The value of an `optional` field, None when the client did not set it."""
    return getattr(request, name) if request.HasField(name) else None


class QueryMessage(Protocol):
    """The fields every Query*Request message has."""

    @property
    def q(self) -> Iterable[str]: ...
    @property
    def reply_with_count(self) -> bool: ...
    def HasField(self, field_name: str) -> bool: ...


def query_request(request: QueryMessage) -> QueryRequest:
    """The arguments every Query*Request message has."""
    return QueryRequest(
        q=list(request.q),
        sort=optional(request, "sort"),
        limit=optional(request, "limit"),
        start=optional(request, "start"),
        count=request.reply_with_count,
    )
