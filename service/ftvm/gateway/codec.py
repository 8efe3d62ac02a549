"""JSON on the REST side (spec §3), driven by the message descriptors.

Replies: every field under its JSON name (camelCase); a field without a value is `null` (an unset `optional`
scalar, an unset message), never omitted; a list is always a list (`[]` when empty); a scalar without presence
prints its value (proto3 `string uuid` is `""` when empty); 64-bit integers are JSON numbers; Timestamps are
ZStack dates (`Nov 14, 2017 2:20:57 PM`, server local time); a Struct is a JSON object. `json_format.MessageToDict`
does none of the first, third and fifth, so the encoder is our own.

Requests: the body is proto JSON (camelCase or snake_case names, 64-bit integers as numbers or numeric strings,
`null` = unset) read by `json_format.ParseDict`, which refuses unknown fields. For `body: "*"` both the flat shape
and ZStack's SDK shape `{"params": {...}, "systemTags": [...], "userTags": [...]}` are accepted; for a named body
field the JSON carries it under its own name (`{"changeHostState": {...}}`). Query parameters fill scalar and
list fields; path variables are set last and win over the body.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

if TYPE_CHECKING:
    from .routes import Route

TIMESTAMP = "google.protobuf.Timestamp"
STRUCT = "google.protobuf.Struct"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# ZStack's `MMM d, yyyy h:mm:ss a` (English month and AM/PM whatever the locale).
ZSTACK_DATE_PATTERN = (r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [1-9][0-9]?, [0-9]{4} "
                       r"(1[0-2]|[1-9]):[0-5][0-9]:[0-5][0-9] (AM|PM)$")


class BadRequest(Exception):
    """The request cannot become a request message (HTTP 400): `str(error)` says why."""


def check_supported(descriptor: Descriptor, _seen: set[str] | None = None) -> None:
    """Raises ValueError for a field kind this codec (and the OpenAPI generator) does not handle: enums, maps and
    well-known types other than Timestamp and Struct."""
    seen = set() if _seen is None else _seen
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    for f in descriptor.fields:
        where = f"{descriptor.full_name}.{f.name}"
        if f.enum_type is not None:
            raise ValueError(f"{where}: enum fields are not supported by the REST gateway")
        message = f.message_type
        if message is None or message.full_name in (TIMESTAMP, STRUCT):
            continue
        if message.GetOptions().map_entry or message.full_name.startswith("google.protobuf."):
            raise ValueError(f"{where}: {message.full_name} is not supported by the REST gateway")
        check_supported(message, seen)


# ---- replies ----------------------------------------------------------------------------------------------------

def zstack_date(timestamp) -> str:
    """`Nov 14, 2017 2:20:57 PM` in the server's local time (seconds; ZStack prints no fraction)."""
    t = datetime.fromtimestamp(timestamp.seconds)
    hour = t.hour % 12 or 12
    return f"{_MONTHS[t.month - 1]} {t.day}, {t.year} {hour}:{t.minute:02d}:{t.second:02d} {'AM' if t.hour < 12 else 'PM'}"


def _whole_numbers(value: Any) -> Any:
    """A Struct holds every number as a double; counts such as `hostsRemovedByRule` read better as integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _struct(struct) -> dict[str, Any]:
    return _whole_numbers(json_format.MessageToDict(struct))


# (proto name, JSON name, repeated, has presence, value converter or None for a plain scalar)
_Plan = tuple[tuple[str, str, bool, bool, Callable[[Any], Any] | None], ...]


@lru_cache(maxsize=None)
def _plan(descriptor: Descriptor) -> _Plan:
    plan = []
    for f in descriptor.fields:
        convert = None
        if f.message_type is not None:
            convert = {TIMESTAMP: zstack_date, STRUCT: _struct}.get(f.message_type.full_name, encode)
        plan.append((f.name, f.json_name, f.is_repeated, f.has_presence, convert))
    return tuple(plan)


def encode(message: Message) -> dict[str, Any]:
    """The message as ZStack's REST JSON (a dict for json.dumps)."""
    out: dict[str, Any] = {}
    for name, json_name, repeated, presence, convert in _plan(message.DESCRIPTOR):
        value = getattr(message, name)
        if repeated:
            out[json_name] = [convert(v) for v in value] if convert else list(value)
        elif presence and not message.HasField(name):
            out[json_name] = None
        else:
            out[json_name] = convert(value) if convert else value
    return out


# ---- requests ---------------------------------------------------------------------------------------------------

def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; JSON has neither


def parse_json(body: bytes) -> Any:
    """The body as JSON; an empty body is `{}`."""
    if not body:
        return {}
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError too
        raise BadRequest(f"malformed JSON body: {e}") from None


def _names(field: FieldDescriptor) -> tuple[str, str]:
    return field.json_name, field.name


def _put(fields: dict[str, Any], field: FieldDescriptor, value: Any) -> None:
    """Sets `field` in a proto-JSON dict, replacing the value under either of its names."""
    for name in _names(field):
        fields.pop(name, None)
    fields[field.json_name] = value


def _whole_request_body(document: Any, input_type: Descriptor) -> dict[str, Any]:
    """The flat body as is; the SDK shape's `params` merged with its top-level fields (lists are joined, so
    `systemTags` may sit inside `params`, beside it, or both; a null on either side is no value)."""
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object")
    if "params" not in document or any("params" in _names(f) for f in input_type.fields):
        return document
    params = document["params"]
    if not isinstance(params, dict):
        raise BadRequest("'params' must be a JSON object")
    merged = dict(params)
    for key, value in document.items():
        if key == "params":
            continue
        if merged.get(key) is None:
            merged[key] = value
        elif value is None:
            continue
        elif isinstance(merged[key], list) and isinstance(value, list):
            merged[key] = merged[key] + value
        else:
            raise BadRequest(f"'{key}' is given both inside and beside 'params'")
    return merged


def _query_value(field: FieldDescriptor, key: str, text: str) -> Any:
    """Query strings are text; json_format reads numbers from strings but wants real booleans."""
    if field.type != FieldDescriptor.TYPE_BOOL:
        return text
    if text in ("true", "false"):
        return text == "true"
    raise BadRequest(f"query parameter '{key}' must be true or false, not {text!r}")


def _query_fields(route: Route, query: Iterable[tuple[str, str]]) -> dict[FieldDescriptor, list[Any]]:
    by_name = {name: f for f in route.query_fields for name in _names(f)}
    values: dict[FieldDescriptor, list[Any]] = {}
    for key, text in query:
        field = by_name.get(key)
        if field is None:
            raise BadRequest(f"unknown query parameter '{key}'")
        values.setdefault(field, []).append(_query_value(field, key, text))
    return values


def decode_request(route: Route, body: bytes, path: Mapping[str, str], query: Iterable[tuple[str, str]]) -> Message:
    """The request message of `route` from the HTTP body, path variables and query (key, value) pairs."""
    if route.body == "*":
        fields = _whole_request_body(parse_json(body), route.input)
    elif route.body:
        fields = parse_json(body)  # {"changeHostState": {...}}: the request's own JSON, holding the body field
        if not isinstance(fields, dict):
            raise BadRequest("the request body must be a JSON object")
    else:
        fields = {}
    for field, values in _query_fields(route, query).items():
        if not field.is_repeated and len(values) > 1:
            raise BadRequest(f"query parameter '{field.json_name}' is given {len(values)} times")
        _put(fields, field, values if field.is_repeated else values[0])
    for field in route.path_fields:
        _put(fields, field, path[field.name])
    try:
        return json_format.ParseDict(fields, route.input_class())
    except json_format.ParseError as e:
        raise BadRequest(str(e)) from None
