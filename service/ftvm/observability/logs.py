"""Log lines as JSON (python-json-logger) or text, each with the id of the request being handled.

The request id: the REST gateway takes the client's `X-Request-Id` header (or makes one), passes it to the gRPC server
as `x-request-id` metadata, and answers with it in `X-Request-Id`; the gRPC server takes it from the metadata (or makes
one, for a direct gRPC caller) and echoes it in its trailing metadata. Each side keeps it in `request_id` (a context
variable: a task's own) while it handles the call, and every line logged meanwhile carries it. A client's id that is
not 1 to 128 printable ASCII characters without spaces, quotes or backslashes is replaced by a made one: it is never
logged as sent.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

MAX_REQUEST_ID = 128
_VALID_ID = re.compile(rf"[\x21\x23-\x5b\x5d-\x7e]{{1,{MAX_REQUEST_ID}}}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Request ids need to be unique, not secret: a PRNG seeded from the OS costs a fraction of uuid.uuid4() (a getrandom
# syscall per call), and the gRPC server makes one for every direct call.
_random = random.Random(os.urandom(32))


def new_request_id() -> str:
    """A version-4 UUID as 32 hex digits."""
    return f"{_random.getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48) | 0x4000 << 64 | 0x8000 << 48:032x}"


def accepted_request_id(sent: str | None) -> str:
    """The client's request id when it is a valid one, else a new one."""
    if sent is not None and _VALID_ID.fullmatch(sent):
        return sent
    return new_request_id()


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def default_format() -> str:
    """Text on a terminal (a person reads it), JSON elsewhere (a collector parses it)."""
    return "text" if sys.stderr.isatty() else "json"


def configure(level: str | int, log_format: str, worker: int | None = None) -> None:
    """The root logger writes to stderr in `log_format` ("json" or "text"), each line with the request id (and
    the worker's index in `ftvm serve --workers N`)."""
    handler = logging.StreamHandler()
    handler.addFilter(_WithRequestId())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s %(request_id)s",
                timestamp="time",  # ISO 8601, UTC
                rename_fields={"levelname": "level", "name": "logger"},
                static_fields={} if worker is None else {"worker": worker},
            )
        )
    else:
        where = "" if worker is None else f" worker-{worker}"
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s{where} %(name)s [%(request_id)s]: %(message)s")
        )
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level, handlers=[handler], force=True)
