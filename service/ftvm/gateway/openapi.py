"""OpenAPI 3.1 of the REST gateway, generated from the routes and message descriptors it serves (GET /openapi.json).

Replies are described as the codec writes them: every property required, `null` allowed exactly where a field has
presence, 64-bit integers as integers, dates as ZStack date strings. Request bodies list what the server accepts
without a 400: the flat body or the SDK shape (`oneOf`), unknown properties refused (`additionalProperties: false`),
`null` allowed everywhere (it means unset). Path variables win over the body, so they are not body properties.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ftvm import __version__
from ftvm._proto.zstack.ft.v1 import types_pb2
from ftvm.contract import MAX_UUID_LENGTH

from .codec import STRUCT, TIMESTAMP, ZSTACK_DATE_PATTERN
from .routes import VARIABLE, Route, by_path

JSON = "application/json"
_F = FieldDescriptor
_INTEGERS = {
    _F.TYPE_INT32: (-(1 << 31), (1 << 31) - 1, "int32"),
    _F.TYPE_SINT32: (-(1 << 31), (1 << 31) - 1, "int32"),
    _F.TYPE_SFIXED32: (-(1 << 31), (1 << 31) - 1, "int32"),
    _F.TYPE_UINT32: (0, (1 << 32) - 1, None),
    _F.TYPE_FIXED32: (0, (1 << 32) - 1, None),
    _F.TYPE_INT64: (-(1 << 63), (1 << 63) - 1, "int64"),
    _F.TYPE_SINT64: (-(1 << 63), (1 << 63) - 1, "int64"),
    _F.TYPE_SFIXED64: (-(1 << 63), (1 << 63) - 1, "int64"),
    _F.TYPE_UINT64: (0, (1 << 64) - 1, None),
    _F.TYPE_FIXED64: (0, (1 << 64) - 1, None),
}
# The SDK shape's top-level tag lists (ZStack's APIMessage carries them beside `params`).
_SDK_TAGS = ("system_tags", "user_tags")

DESCRIPTION = """\
ZStack's REST API for fault-tolerant VMs, served by ftvm's gateway from the gRPC service's `google.api.http`
annotations.

Every operation but LogInByAccount and LogOut needs the header `Authorization: OAuth <sessionUuid>`.

Statuses: 200 with the reply (a field without a value is `null`; lists are `[]` when empty). Every other answer is
the envelope `{"success": false, "error": {"code", "description", "details", "elaboration", "opaque", "cause"}}`:
503 for every error of the API (ZStack's convention; `code` tells which, e.g. SYS.1007 invalid argument, SYS.1003
not found, SYS.1006 operation failed with a `cause` such as HOST_ALLOCATION.1000, ID.1001 invalid session;
SYS.1006 also when the gRPC backend cannot be reached), 400 SYS.1007 for malformed JSON, a wrong JSON type, an
unknown field or query parameter, a uuid longer than its `maxLength` in the path or query, and a missing or
ill-formed `Authorization` header, 404 SYS.1003 for a path with no API, 405 SYS.1007 for a method the path does not
have (with `Allow`), 408 SYS.1007 for a body that did not arrive in time (the connection is closed), 413 SYS.1007
for a body over 1 MiB.
"""


def _parameter(field: FieldDescriptor) -> dict[str, Any]:
    """The schema of a path or query parameter: a uuid (a field named `...uuid`) has a maxLength."""
    schema = _scalar(field)
    if field.name.endswith("uuid"):
        schema["maxLength"] = MAX_UUID_LENGTH
    return {"type": "array", "items": schema} if field.is_repeated else schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _scalar(field: FieldDescriptor) -> dict[str, Any]:
    if field.type in _INTEGERS:
        low, high, fmt = _INTEGERS[field.type]
        return {"type": "integer", "minimum": low, "maximum": high, **({"format": fmt} if fmt else {})}
    if field.type == _F.TYPE_BOOL:
        return {"type": "boolean"}
    if field.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return {"type": "number"}
    if field.type == _F.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    return {"type": "string"}


class _Schemas:
    """components/schemas: one per reply message (by its name), one per request message nested in a body."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self._owner: dict[str, str] = {}

    def _register(self, name: str, full_name: str, build) -> dict[str, str]:
        if self._owner.setdefault(name, full_name) != full_name:
            raise ValueError(f"two messages named {name}: {self._owner[name]} and {full_name}")
        if name not in self.schemas:
            self.schemas[name] = {}  # recursion (ErrorCode.cause) finds the name taken
            self.schemas[name] = build()
        return {"$ref": f"#/components/schemas/{name}"}

    # -- replies: everything present, null where the field has presence
    def reply(self, message: Descriptor) -> dict[str, str]:
        def build() -> dict[str, Any]:
            properties = {f.json_name: self._reply_field(f) for f in message.fields}
            schema = {"type": "object", "properties": properties, "additionalProperties": False}
            return {**schema, "required": list(properties)} if properties else schema

        return self._register(message.name, message.full_name, build)

    def _reply_field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        kind = message.full_name if message else None
        if kind == TIMESTAMP:
            value = {"type": "string", "pattern": ZSTACK_DATE_PATTERN, "description": "MMM d, yyyy h:mm:ss a"}
        elif kind == STRUCT:
            value = {"type": "object"}
        elif message:
            value = self.reply(message)
        else:
            value = _scalar(field)
        if field.is_repeated:
            return {"type": "array", "items": value}
        return _nullable(value) if field.has_presence else value

    # -- requests: nothing required, null everywhere (it means unset), no unknown properties
    def request_object(self, fields) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {f.json_name: self._request_field(f) for f in fields},
            "additionalProperties": False,
        }

    def request(self, message: Descriptor) -> dict[str, str]:
        return self._register(message.name, message.full_name, lambda: self.request_object(message.fields))

    def _request_field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        kind = message.full_name if message else None
        if kind == TIMESTAMP:
            value = {"type": "string", "format": "date-time"}  # RFC 3339, as json_format reads it
        elif kind == STRUCT:
            value = {"type": "object"}
        elif message:
            value = self.request(message)
        else:
            value = _scalar(field)
        return _nullable({"type": "array", "items": value} if field.is_repeated else value)


def _envelope_responses(schemas: _Schemas) -> dict[str, Any]:
    # types-protobuf types a message's DESCRIPTOR as protobuf's Python Descriptor or upb's
    error = schemas.reply(types_pb2.ErrorCode.DESCRIPTOR)  # type: ignore[arg-type]
    schemas.schemas["ErrorEnvelope"] = {
        "type": "object",
        "required": ["success", "error"],
        "additionalProperties": False,
        "properties": {"success": {"const": False}, "error": error},
    }
    content = {JSON: {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    return {
        "BadRequest": {
            "description": "SYS.1007: malformed JSON, a wrong JSON type, an unknown field or query "
            "parameter, a uuid longer than its maxLength in the path or query, a "
            "missing or ill-formed Authorization header",
            "content": content,
        },
        "NotFound": {"description": "SYS.1003: no API at this path", "content": content},
        "MethodNotAllowed": {
            "description": "SYS.1007: the path has no such method",
            "headers": {"Allow": {"description": "the methods of the path", "schema": {"type": "string"}}},
            "content": content,
        },
        "RequestTimeout": {
            "description": "SYS.1007: the body did not arrive in time; the connection is closed",
            "content": content,
        },
        "PayloadTooLarge": {"description": "SYS.1007: the body is larger than 1 MiB", "content": content},
        "ApiError": {
            "description": "an error of the API (ZStack answers 503 for each); `error.code` tells which",
            "content": content,
        },
    }


def _operation(route: Route, schemas: _Schemas) -> dict[str, Any]:
    parameters = []
    for f in route.path_fields:
        schema = _parameter(f)
        if schema["type"] == "string":
            schema["minLength"] = 1
        parameters.append({"name": f.json_name, "in": "path", "required": True, "schema": schema})
    for f in route.query_fields:
        parameters.append(
            {
                "name": f.json_name,
                "in": "query",
                "required": False,
                "schema": _parameter(f),
                "style": "form",
                "explode": True,
            }
        )
    responses = {
        "200": {
            "description": f"the {route.method.output_type.name}",
            "content": {JSON: {"schema": schemas.reply(route.method.output_type)}},
        },
        "400": {"$ref": "#/components/responses/BadRequest"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "405": {"$ref": "#/components/responses/MethodNotAllowed"},
        "503": {"$ref": "#/components/responses/ApiError"},
    }
    operation: dict[str, Any] = {
        "operationId": route.name,
        "tags": [route.method.containing_service.name],
        "summary": f"{route.method.full_name} over REST",
        "parameters": parameters,
        "responses": responses,
    }
    if route.body:
        responses["408"] = {"$ref": "#/components/responses/RequestTimeout"}
        responses["413"] = {"$ref": "#/components/responses/PayloadTooLarge"}
        operation["requestBody"] = {"required": False, "content": {JSON: {"schema": _body(route, schemas)}}}
    if route.public:
        operation["security"] = []
    return operation


def _body(route: Route, schemas: _Schemas) -> dict[str, Any]:
    if route.body != "*":
        return schemas.request_object(route.body_fields)  # {"changeHostState": {...}}
    name = f"{route.name}Body"
    schemas.schemas[name] = schemas.request_object(route.body_fields)
    flat = {"$ref": f"#/components/schemas/{name}"}
    tags = [f for f in route.body_fields if f.name in _SDK_TAGS]
    sdk = schemas.request_object(tags)
    sdk["properties"] = {"params": flat, **sdk["properties"]}
    sdk["required"] = ["params"]
    return {"oneOf": [flat, sdk]}


def _actions_operation(shared: tuple[Route, ...], schemas: _Schemas) -> dict[str, Any]:
    """Actions sharing a path (ZStack's `.../actions`): one operation whose body is one of theirs, the body's
    top-level key picking the RPC."""
    operations = [_operation(route, schemas) for route in shared]
    operation = operations[0]
    operation["operationId"] = "Or".join(route.name for route in shared)
    operation["summary"] = (
        " | ".join(f"{route.method.full_name}" for route in shared) + " over REST (the body's key picks the action)"
    )
    operation["requestBody"] = {
        "required": True,
        "content": {JSON: {"schema": {"oneOf": [o["requestBody"]["content"][JSON]["schema"] for o in operations]}}},
    }
    operation["responses"]["200"]["content"][JSON]["schema"] = {
        "oneOf": [o["responses"]["200"]["content"][JSON]["schema"] for o in operations]
    }
    operation["responses"]["200"]["description"] = " or ".join(o["responses"]["200"]["description"] for o in operations)
    return operation


def openapi_document(routes: tuple[Route, ...]) -> dict[str, Any]:
    schemas = _Schemas()
    responses = _envelope_responses(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for (verb, template), shared in by_path(routes).items():
        fields = shared[0].input.fields_by_name
        path = VARIABLE.sub(lambda m: "{" + fields[m.group(1)].json_name + "}", template)
        paths.setdefault(path, {})[verb.lower()] = (
            _operation(shared[0], schemas) if len(shared) == 1 else _actions_operation(shared, schemas)
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ftvm REST API (ZStack fault-tolerant VMs)",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "security": [{"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.schemas,
            "responses": responses,
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "OAuth <sessionUuid> (LogInByAccount's inventory.uuid)",
                }
            },
        },
    }
