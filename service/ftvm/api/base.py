"""What every servicer method shares: the session check, admin-only guard, and FtError -> rich gRPC status.

Decorate each RPC with `@rpc()` (or `@rpc(admin=True)`, or `@rpc(public=True)` for login). The method then receives
the caller's `Account` (None for public RPCs) and may raise FtError; anything else is logged and answered SYS.1000.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable

import grpc

from ftvm.domain.accounts import Account, Accounts
from ftvm.domain.errors import FtError, internal, permission_denied

from .errors import to_status

log = logging.getLogger(__name__)


async def caller_account(accounts: Accounts, context: grpc.aio.ServicerContext) -> Account:
    header = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            header = value
            break
    if header is None:
        raise FtError("ID.1001", "missing session: send metadata 'authorization: OAuth <sessionUuid>'")
    kind, _, session_uuid = header.strip().partition(" ")
    if kind != "OAuth" or not session_uuid.strip():
        raise FtError("ID.1001", "Authorization type must be 'OAuth', as 'authorization: OAuth <sessionUuid>'")
    return await accounts.authenticate(session_uuid.strip())


def rpc(admin: bool = False, public: bool = False) -> Callable:
    def decorate(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def handler(self, request, context: grpc.aio.ServicerContext):
            try:
                account = None if public else await caller_account(self.accounts, context)
                if admin and not account.is_admin:
                    raise permission_denied(f"{type(request).__name__[:-7]} is an admin-only API")
                return await method(self, request, context, account)
            except FtError as e:
                error = e
            except Exception:  # noqa: BLE001 -- a bug: answered as SYS.1000, never a bare crash
                log.exception("unexpected error in %s", method.__qualname__)
                error = internal(f"unexpected error in {method.__name__}; see the server log")
            await context.abort_with_status(to_status(error))

        return handler

    return decorate
