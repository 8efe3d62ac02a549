"""The REST routes, read from the `google.api.http` annotation of every RPC in the service descriptors.

An RPC with an annotation is a route: its verb, its path template (`{field}` variables name top-level request
fields) and its `body` ("*" = the whole request, a field name = that field, empty = no body; the other fields come
from the query string). Nothing else is needed to expose a new RPC. Features of HttpRule the gateway does not
implement (`{field=pattern}` variables, nested variables, `additional_bindings`, `response_body`, custom verbs)
fail the start loudly instead of being served wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from google.api import annotations_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor, MethodDescriptor

from ftvm._proto.zstack.ft.v1 import services_pb2

from .codec import check_supported

VARIABLE = re.compile(r"\{([^{}]*)\}")
VERBS = ("get", "put", "post", "delete", "patch")

# LogInByAccount makes the session and LogOut names it in its path: the only RPCs without `Authorization`.
PUBLIC_RPCS = frozenset({"zstack.ft.v1.AccountService.LogInByAccount", "zstack.ft.v1.AccountService.LogOut"})


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    verb: str  # GET, PUT, POST, DELETE, PATCH
    template: str  # /zstack/v1/hosts/{uuid}/actions
    body: str  # "" = no body, "*" = the whole request, else the name of the field the body fills

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def rpc_path(self) -> str:
        """The gRPC method path, `/package.Service/Method`."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def public(self) -> bool:
        return self.method.full_name in PUBLIC_RPCS

    @property
    def input(self) -> Descriptor:
        return self.method.input_type

    @cached_property
    def input_class(self):
        return message_factory.GetMessageClass(self.method.input_type)

    @cached_property
    def output_class(self):
        return message_factory.GetMessageClass(self.method.output_type)

    @cached_property
    def path_fields(self) -> tuple[FieldDescriptor, ...]:
        return tuple(self.input.fields_by_name[name] for name in VARIABLE.findall(self.template))

    @cached_property
    def body_fields(self) -> tuple[FieldDescriptor, ...]:
        """The fields the JSON body may carry (path variables excluded: the path wins over the body)."""
        if self.body == "*":
            return tuple(f for f in self.input.fields if f not in self.path_fields)
        if self.body:
            return (self.input.fields_by_name[self.body],)
        return ()

    @cached_property
    def query_fields(self) -> tuple[FieldDescriptor, ...]:
        """Fields the query string may set: scalars and lists of scalars bound neither by the path nor the body."""
        if self.body == "*":
            return ()
        bound = set(self.path_fields) | set(self.body_fields)
        return tuple(f for f in self.input.fields if f not in bound and f.message_type is None)


def _route(method: MethodDescriptor) -> Route | None:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule = options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb not in VERBS:
        raise ValueError(f"{method.full_name}: HttpRule pattern {verb!r} is not supported")
    if rule.additional_bindings or rule.response_body:
        raise ValueError(f"{method.full_name}: additional_bindings and response_body are not supported")
    if method.client_streaming or method.server_streaming:
        raise ValueError(f"{method.full_name}: streaming RPCs have no REST route")
    template = getattr(rule, verb)
    fields = method.input_type.fields_by_name
    for variable in VARIABLE.findall(template):
        if variable not in fields or fields[variable].is_repeated or fields[variable].message_type is not None:
            raise ValueError(
                f"{method.full_name}: path variable {{{variable}}} must name a top-level scalar field "
                f"of {method.input_type.full_name}"
            )
    if rule.body not in ("", "*") and (rule.body not in fields or fields[rule.body].message_type is None):
        raise ValueError(f"{method.full_name}: body {rule.body!r} must name a message field")
    check_supported(method.input_type)
    check_supported(method.output_type)
    return Route(method, verb.upper(), template, rule.body)


def routes(file: FileDescriptor = services_pb2.DESCRIPTOR) -> tuple[Route, ...]:
    """Every annotated RPC of the file's services, in proto order."""
    out = []
    for service in file.services_by_name.values():
        for method in service.methods:
            route = _route(method)
            if route is not None:
                out.append(route)
    by_path(tuple(out))  # refuses an ambiguous table at start
    return tuple(out)


def by_path(table: tuple[Route, ...]) -> dict[tuple[str, str], tuple[Route, ...]]:
    """The routes of each (verb, template). Several RPCs may share one only as ZStack's actions do (`PUT
    /hosts/{uuid}/actions` with `{"changeHostState": ...}` or `{"reconnectHost": ...}`): each names its body field,
    and the body's one top-level key picks the RPC."""
    shared: dict[tuple[str, str], list[Route]] = {}
    for route in table:
        shared.setdefault((route.verb, route.template), []).append(route)
    for (verb, template), group in shared.items():
        if len(group) > 1:
            if any(r.body in ("", "*") for r in group):
                raise ValueError(
                    f"{verb} {template}: RPCs sharing a path must each name their body field: "
                    f"{[r.method.full_name for r in group]}"
                )
            if len({r.body for r in group}) != len(group):
                raise ValueError(f"{verb} {template}: two RPCs name the same body field")
    return {key: tuple(group) for key, group in shared.items()}
