"""The gRPC servicers: proto <-> domain. The REST gateway takes the argument limits it applies itself from here, so
it depends on the proto and this layer only, never on the domain."""

from ftvm.domain.limits import MAX_UUID_LENGTH

__all__ = ["MAX_UUID_LENGTH"]
