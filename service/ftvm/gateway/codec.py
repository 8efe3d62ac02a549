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

Where json_format is lenient the codec refuses first (BadRequest): a key twice in one JSON object, a field under
both its names (json_format keeps the last), and an integer in a string or in the URL that is not an integer
literal `-?(0|[1-9][0-9]*)` (json_format reads it with Python's int(), which takes `1_0`, ` 7` or `+7`). A uuid in
the path or the query string (a field named `...uuid`) is at most MAX_UUID_LENGTH characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ftvm.contract import MAX_UUID_LENGTH

if TYPE_CHECKING:
    from .routes import Route

TIMESTAMP = "google.protobuf.Timestamp"
STRUCT = "google.protobuf.Struct"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# ZStack's `MMM d, yyyy h:mm:ss a` (English month and AM/PM whatever the locale).
ZSTACK_DATE_PATTERN = (
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [1-9][0-9]?, [0-9]{4} "
    r"(1[0-2]|[1-9]):[0-5][0-9]:[0-5][0-9] (AM|PM)$"
)


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
    am_pm = "AM" if t.hour < 12 else "PM"
    return f"{_MONTHS[t.month - 1]} {t.day}, {t.year} {hour}:{t.minute:02d}:{t.second:02d} {am_pm}"


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


@cache
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

# proto3 JSON's integer literal: JSON's number syntax without fraction or exponent. Unquoted JSON numbers are
# doubles to every JSON parser, so an integral 1.0 or 1e3 is taken there (json_format does, as proto3 JSON says);
# a string carries an integer exactly, so it must be written as one (json_format would read "1e3" through a double).
_INTEGER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")
_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
_SHOWN_CHARS = 64  # of a client's value quoted in an error: enough to recognise it, never the whole of a huge one


def _shown(text: str) -> str:
    """`text` for an error message, cut to its first 64 characters."""
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "...")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; JSON has neither


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Every JSON object of the body: Python's json would keep the last of two equal keys without a word."""
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRequest(f"the key {_shown(key)} is given twice in one object of the JSON body")
            seen.add(key)
    return document


def parse_json(body: bytes) -> Any:
    """The body as JSON; an empty body is `{}`."""
    if not body:
        return {}
    try:
        return json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError too
        raise BadRequest(f"malformed JSON body: {e}") from None


def _names(field: FieldDescriptor) -> tuple[str, str]:
    return field.json_name, field.name


@cache
def _fields_by_key(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {name: f for f in descriptor.fields for name in _names(f)}


def _check_integer_text(text: str, where: str) -> None:
    if not _INTEGER_TEXT.fullmatch(text):
        raise BadRequest(f"{where} must be an integer written as digits (an optional '-' first), not {_shown(text)}")


def _check_body(document: Any, descriptor: Descriptor) -> None:
    """Refuses what json_format would read leniently in the JSON of a message, nested messages included: one field
    under both its names, and integers in strings that are not integer literals."""
    if not isinstance(document, dict):
        return  # json_format refuses the wrong type
    given: dict[FieldDescriptor, str] = {}
    for key, value in document.items():
        field = _fields_by_key(descriptor).get(key)
        if field is None:
            continue  # json_format refuses unknown fields
        if field in given:
            raise BadRequest(
                f"field '{field.json_name}' of {descriptor.name} is given twice, as '{given[field]}' and '{key}'"
            )
        given[field] = key
        for item in value if field.is_repeated and isinstance(value, list) else (value,):
            if field.message_type is not None:
                if field.message_type.full_name not in (TIMESTAMP, STRUCT):
                    _check_body(item, field.message_type)
            elif field.cpp_type in _INTEGER_TYPES and isinstance(item, str):
                _check_integer_text(item, f"field '{key}'")


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


def _text_value(field: FieldDescriptor, where: str, text: str) -> Any:
    """A path or query value (text) as proto JSON wants it: a uuid at most MAX_UUID_LENGTH characters, an integer
    literal, a real boolean (json_format reads numbers from strings but wants true/false as JSON booleans)."""
    if field.name.endswith("uuid") and len(text) > MAX_UUID_LENGTH:
        raise BadRequest(f"{where} is {len(text)} characters long; a uuid has at most {MAX_UUID_LENGTH}")
    if field.cpp_type in _INTEGER_TYPES:
        _check_integer_text(text, where)
    if field.type != FieldDescriptor.TYPE_BOOL:
        return text
    if text in ("true", "false"):
        return text == "true"
    raise BadRequest(f"{where} must be true or false, not {_shown(text)}")


def _query_fields(route: Route, query: Iterable[tuple[str, str]]) -> dict[FieldDescriptor, list[Any]]:
    by_name = {name: f for f in route.query_fields for name in _names(f)}
    values: dict[FieldDescriptor, list[Any]] = {}
    given: dict[FieldDescriptor, str] = {}
    for key, text in query:
        field = by_name.get(key)
        if field is None:
            raise BadRequest(f"unknown query parameter '{key}'")
        if given.setdefault(field, key) != key:
            raise BadRequest(f"query parameter '{field.json_name}' is given twice, as '{given[field]}' and '{key}'")
        values.setdefault(field, []).append(_text_value(field, f"query parameter '{key}'", text))
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
    _check_body(fields, route.input)
    for field, values in _query_fields(route, query).items():
        if not field.is_repeated and len(values) > 1:
            raise BadRequest(f"query parameter '{field.json_name}' is given {len(values)} times")
        if any(name in fields for name in _names(field)):
            raise BadRequest(f"'{field.json_name}' is given both in the body and in the query string")
        fields[field.json_name] = values if field.is_repeated else values[0]
    for field in route.path_fields:
        _put(fields, field, _text_value(field, f"path variable '{field.json_name}'", path[field.name]))
    try:
        return json_format.ParseDict(fields, route.input_class())
    except json_format.ParseError as e:
        raise BadRequest(str(e)) from None
