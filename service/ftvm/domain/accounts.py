"""Accounts and sessions (ZStack's IAM, the part this service needs).

Clients send the SHA-512 hex of the password (as ZStack's clients do); the store keeps a salted scrypt of that.
A session uuid is the bearer credential, so it comes from `secrets` (unguessable), not from `new_uuid`.
Sessions expire after `SESSION_IDLE_MS` without use and at `SESSION_MAX_MS` after login, whichever is first.
Validated sessions are cached in memory; a cached session is re-read from the store at most once per
`TOUCH_INTERVAL_MS`, when its idle timer is pushed forward.

Logins (README "Login security"): every login the limits admit costs exactly one scrypt, whether the account
exists and the password is well formed or not (an unknown name or a malformed password is checked against a dummy
hash), so the time taken tells nothing about which names exist. Hashes run on the accounts' own `HASH_THREADS`
threads, never the default executor the store's reads use; at most `MAX_LOGINS_HASHING` logins are hashing or
waiting to, and one more is refused at once (ID.1000). Repeated failures lock the account name and the client
address for a while (login_limits).

CreateAccount (admin only, checked by the API layer): a unique name (ZStack's name rule), the SHA-512 hex of the
password, type Normal (default) or SystemAdmin, an optional description and resourceUuid. A taken name or uuid
is the typed ALREADY_EXISTS error; the answer is the account's inventory, never its password hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ftvm.store import Conflict, Row, Store, Tx

from .common import Domain, check_description, check_name, check_resource_uuid, new_uuid
from .errors import FtError, already_exists, invalid
from .inventory import tag_rows
from .limits import MAX_KEYWORD_LENGTH, MAX_UUID_LENGTH, check_text
from .login_limits import LoginLimits

ADMIN_NAME = "admin"
ACCOUNT_TYPES = ("Normal", "SystemAdmin")
_CREATE_MSG = "APICreateAccountMsg"
SESSION_IDLE_MS = 7200 * 1000
SESSION_MAX_MS = 24 * 3600 * 1000
TOUCH_INTERVAL_MS = 60 * 1000
_SHA512_HEX = re.compile(r"^[0-9a-f]{128}$")
# ~40 ms of CPU and 16 MiB per hash on an idle machine: run off the event loop, on PasswordHasher's threads.
_SCRYPT = dict(n=1 << 14, r=8, p=1, dklen=32)
HASH_THREADS = 2
# Hashing or waiting to: the last one waits ~16 hash times (under a second when idle), a login beyond is refused.
MAX_LOGINS_HASHING = 32
# What an unknown name or a malformed password is checked against: a random digest, which no password hashes to.
_DUMMY_HASH = f"scrypt${os.urandom(16).hex()}${os.urandom(32).hex()}"


@dataclass(frozen=True, slots=True)
class Account:
    uuid: str
    name: str
    type: str  # SystemAdmin | Normal

    @property
    def is_admin(self) -> bool:
        return self.type == "SystemAdmin"


@dataclass(slots=True)
class Session:
    uuid: str
    account: Account
    create_date: int
    expired_date: int
    checked_at: int


def sha512_hex(password: str) -> str:
    return hashlib.sha512(password.encode()).hexdigest()


def hash_password(sha512: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(sha512.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(sha512: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(sha512.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


class PasswordHasher:
    """scrypt on `HASH_THREADS` threads of its own: a burst of logins never takes the default executor from the
    store's reads, and never holds more than HASH_THREADS x 16 MiB."""

    def __init__(self) -> None:
        self._threads = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="ftvm-scrypt")
        self._logins = 0  # checking or waiting to

    async def hash(self, password_sha512: str) -> str:
        """Account creation (admin only) waits its turn, however many are queued."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, hash_password, password_sha512)

    async def matches(self, password_sha512: str, stored: str) -> bool:
        if self._logins >= MAX_LOGINS_HASHING:
            raise FtError(
                "ID.1000", f"the server is already checking {MAX_LOGINS_HASHING} logins; try again in a moment"
            )
        self._logins += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, password_matches, password_sha512, stored
            )
        finally:
            self._logins -= 1

    def close(self) -> None:
        self._threads.shutdown(wait=True)


def session_invalid(uuid: str) -> FtError:
    shown = uuid if len(uuid) <= MAX_UUID_LENGTH else uuid[:MAX_UUID_LENGTH] + "..."  # a header can be 8 KiB
    return FtError("ID.1001", f"the session[uuid:{shown}] is invalid or has expired")


def account_inventory(row: Row) -> Row:
    """What an AccountInventory shows: never the password hash."""
    return {k: row[k] for k in ("uuid", "name", "description", "type", "create_date", "last_op_date")}


def ensure_admin(store: Store, password: str | None, now: int) -> str | None:
    """First start: creates the admin account. Answers the plain password when it was generated here (to be printed
    once), else None (the account existed, or a replica starting at the same time created it)."""
    if store.read(lambda tx: tx.select("accounts", {"name": ADMIN_NAME})):
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    row = dict(
        uuid=new_uuid(),
        name=ADMIN_NAME,
        description=None,
        type="SystemAdmin",
        password_hash=hash_password(sha512_hex(password)),
        create_date=now,
        last_op_date=now,
    )
    try:
        store.write(lambda tx: tx.insert("accounts", [row]))
    except Conflict:
        return None
    return generated


class Accounts:
    def __init__(self, domain: Domain) -> None:
        self._domain = domain
        self._sessions: dict[str, Session] = {}
        self._hasher = PasswordHasher()
        self._limits = LoginLimits()

    def close(self) -> None:
        self._hasher.close()

    async def create_account(
        self,
        name: str | None,
        password_sha512: str | None,
        account_type: str | None = None,
        description: str | None = None,
        resource_uuid: str | None = None,
        system_tags: Sequence[str] = (),
        user_tags: Sequence[str] = (),
    ) -> Row:
        """Stores a new account and answers its inventory row (no password hash)."""
        name = check_name(name, "name", _CREATE_MSG)
        check_description(description, _CREATE_MSG)
        if not password_sha512 or not _SHA512_HEX.match(password_sha512.lower()):
            raise invalid(
                f"field[password] of message[{_CREATE_MSG}] must be the SHA-512 hex digest of the "
                "password (128 hexadecimal characters)"
            )
        account_type = account_type or "Normal"
        if account_type not in ACCOUNT_TYPES:
            check_text(account_type, "type", _CREATE_MSG, MAX_KEYWORD_LENGTH)
            raise invalid(
                f"valid value for field[type] of message[{_CREATE_MSG}] are {list(ACCOUNT_TYPES)}, "
                f"but {account_type} found"
            )
        check_text(resource_uuid, "resourceUuid", _CREATE_MSG, MAX_UUID_LENGTH)
        uuid = check_resource_uuid(resource_uuid) or new_uuid()
        now = self._domain.clock()
        tags = tag_rows(uuid, "AccountVO", system_tags, user_tags, now, _CREATE_MSG)
        password_hash = await self._hasher.hash(password_sha512.lower())
        row = dict(
            uuid=uuid,
            name=name,
            description=description,
            type=account_type,
            password_hash=password_hash,
            create_date=now,
            last_op_date=now,
        )

        def op(tx: Tx) -> None:
            # Writes are serial, so these reads decide; the UNIQUE constraints are the backstop.
            if tx.select("accounts", {"name": name}):
                raise FtError(
                    "SYS.1007",
                    f"account[name:{name}] already exists; an account name must be unique",
                    already_exists=True,
                )
            if tx.select("accounts", {"uuid": uuid}):
                raise already_exists("AccountVO", uuid)
            try:
                tx.insert("accounts", [row])
            except Conflict as e:
                raise FtError(
                    "SYS.1007",
                    f"account[name:{name}] conflicts with an existing account: {e.detail}",
                    already_exists=True,
                ) from e
            tx.insert("tags", tags)

        await self._domain.write(op)
        return account_inventory(row)

    async def log_in(self, account_name: str, password_sha512: str, client_address: str) -> Session:
        """`client_address`: whom the per-address limit counts (the API layer decides, see `api.base`)."""
        attempt = self._limits.admit(account_name, client_address, self._domain.clock())
        password = password_sha512.lower()
        well_formed = _SHA512_HEX.match(password) is not None
        try:
            rows = await self._domain.read(lambda tx: tx.select("accounts", {"name": account_name}))
            stored = rows[0]["password_hash"] if rows and well_formed else _DUMMY_HASH
            # A malformed password is hashed as "": however long, it costs what a well-formed one does.
            matches = await self._hasher.matches(password if well_formed else "", stored)
        except BaseException:  # the hashing queue is full, or the store failed: nothing was checked
            attempt.unchecked()
            raise
        if not matches:
            attempt.failed(self._domain.clock())
            raise FtError("ID.1000", "wrong account name or password")
        attempt.succeeded()
        r = rows[0]
        now = self._domain.clock()
        session = Session(
            secrets.token_hex(16), Account(r["uuid"], r["name"], r["type"]), now, self._expiry(now, now), now
        )
        await self._domain.write(
            lambda tx: tx.insert(
                "sessions",
                [
                    dict(
                        uuid=session.uuid,
                        account_uuid=r["uuid"],
                        user_uuid=None,
                        create_date=now,
                        last_active=now,
                        expired_date=session.expired_date,
                    )
                ],
            )
        )
        self._sessions[session.uuid] = session
        return session

    async def log_out(self, session_uuid: str) -> None:
        """Idempotent: an unknown or expired session is already logged out. The other replicas drop it from their
        caches when the change feed brings the logout."""
        self._sessions.pop(session_uuid, None)

        def op(tx: Tx) -> None:
            if tx.delete("sessions", {"uuid": session_uuid}):
                tx.emit({"t": "session-", "uuid": session_uuid})

        await self._domain.write(op)

    def forget_session(self, session_uuid: str) -> None:
        """Another replica logged the session out."""
        self._sessions.pop(session_uuid, None)

    @staticmethod
    def _expiry(created: int, now: int) -> int:
        return min(now + SESSION_IDLE_MS, created + SESSION_MAX_MS)

    async def authenticate(self, session_uuid: str) -> Account:
        now = self._domain.clock()
        session = self._sessions.get(session_uuid)
        if session is not None and now < session.expired_date and now - session.checked_at < TOUCH_INTERVAL_MS:
            return session.account
        session = await self._refresh(session_uuid, now)
        return session.account

    async def _refresh(self, session_uuid: str, now: int) -> Session:
        """Re-reads the session (it may have been logged out by another replica) and pushes its idle expiry."""

        def op(tx):
            rows = tx.select("sessions", {"uuid": session_uuid})
            if not rows or now >= rows[0]["expired_date"]:
                if rows:
                    tx.delete("sessions", {"uuid": session_uuid})
                return None
            row = rows[0]
            expired = self._expiry(row["create_date"], now)
            tx.update("sessions", {"uuid": session_uuid}, {"last_active": now, "expired_date": expired})
            account = tx.select("accounts", {"uuid": row["account_uuid"]})[0]
            return Session(
                session_uuid,
                Account(account["uuid"], account["name"], account["type"]),
                row["create_date"],
                expired,
                now,
            )

        session = await self._domain.write(op)
        if session is None:
            self._sessions.pop(session_uuid, None)
            raise session_invalid(session_uuid)
        self._sessions[session_uuid] = session
        return session
