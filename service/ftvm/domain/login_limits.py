"""Login lockout, per account name and per client address (as OpenStack Keystone's `lockout_failure_attempts` and
`lockout_duration`), kept in memory per process and bounded in size.

- An account name, whether an account has it or not (else the lockout would tell which names exist):
  `ACCOUNT_FAILURES` failed logins in a row lock it for `ACCOUNT_LOCKOUT_MS`, each further lockout twice as long as
  the previous one, up to `MAX_ACCOUNT_LOCKOUT_MS`. A success clears it.
- A client address (an IPv6 client counts by its /64, which one host can hold whole): `ADDRESS_FAILURES` failed
  logins within `ADDRESS_WINDOW_MS`, whatever the names, lock it for `ADDRESS_LOCKOUT_MS`. A success does not
  clear it (a client with an account of its own must not reset its budget for guessing others').

A locked name or address is refused without hashing anything. An attempt is counted when it starts and given back
when its password proves right, so attempts sent at once cannot get past a limit while their hashes still run; an
attempt never checked (the hashing queue was full) is given back too. At most `MAX_TRACKED` names and as many
addresses are remembered; the least recently used is forgotten first.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

from .common import MAX_NAME
from .errors import FtError

ACCOUNT_FAILURES = 5
ACCOUNT_LOCKOUT_MS = 60 * 1000
MAX_ACCOUNT_LOCKOUT_MS = 15 * 60 * 1000
ADDRESS_FAILURES = 20
ADDRESS_WINDOW_MS = 60 * 1000
ADDRESS_LOCKOUT_MS = 60 * 1000
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Policy:
    failures: int  # failed (or still unchecked) logins that lock a key
    lockout_ms: int  # the first lockout; each further one doubles, up to max_lockout_ms
    max_lockout_ms: int
    window_ms: int | None  # counted failures older than this are forgotten; None: kept until a success
    success_clears: bool


ACCOUNT_POLICY = Policy(ACCOUNT_FAILURES, ACCOUNT_LOCKOUT_MS, MAX_ACCOUNT_LOCKOUT_MS, None, success_clears=True)
ADDRESS_POLICY = Policy(
    ADDRESS_FAILURES, ADDRESS_LOCKOUT_MS, ADDRESS_LOCKOUT_MS, ADDRESS_WINDOW_MS, success_clears=False
)


@dataclass(slots=True)
class Strikes:
    counted: int = 0  # attempts not proven right: failed, or still being checked
    counting_since: int = 0
    locked_until: int = 0
    lockouts: int = 0  # since the last success


class Tracker:
    """The strikes of one kind of key, least recently used first."""

    def __init__(self, policy: Policy, capacity: int = MAX_TRACKED) -> None:
        self.policy = policy
        self._capacity = capacity
        self._strikes: OrderedDict[object, Strikes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._strikes)

    def admit(self, key: object, shown: str, now: int) -> Strikes:
        """The key's strikes, or the typed refusal while it is locked or its budget is taken by attempts still
        being checked."""
        strikes = self._strikes.get(key)
        if strikes is None:
            strikes = self._strikes[key] = Strikes(counting_since=now)
            if len(self._strikes) > self._capacity:
                self._strikes.popitem(last=False)
        else:
            self._strikes.move_to_end(key)
        policy = self.policy
        if policy.window_ms is not None and now - strikes.counting_since >= policy.window_ms:
            strikes.counted, strikes.counting_since = 0, now
        if now < strikes.locked_until:
            seconds = -(-(strikes.locked_until - now) // 1000)
            raise FtError("ID.1000", f"{shown} is locked for {seconds} s after {policy.failures} failed logins")
        if strikes.counted >= policy.failures:
            raise FtError(
                "ID.1000", f"{shown} has {policy.failures} logins failed or still being checked; try again in a moment"
            )
        return strikes

    def failed(self, strikes: Strikes, now: int) -> None:
        policy = self.policy
        if strikes.counted >= policy.failures and now >= strikes.locked_until:
            strikes.lockouts += 1
            strikes.locked_until = now + min(policy.lockout_ms << (strikes.lockouts - 1), policy.max_lockout_ms)
            strikes.counted, strikes.counting_since = 0, now

    def succeeded(self, strikes: Strikes, counted_since: int) -> None:
        if self.policy.success_clears:
            strikes.counted = strikes.lockouts = strikes.locked_until = 0
        else:
            self.give_back(strikes, counted_since)

    @staticmethod
    def give_back(strikes: Strikes, counted_since: int) -> None:
        if strikes.counting_since == counted_since:  # not already forgotten with its window
            strikes.counted -= 1


@dataclass(slots=True)
class Attempt:
    """One login past the limits: end it with exactly one of `succeeded`, `failed` or `unchecked`."""

    limits: LoginLimits
    account: Strikes
    address: Strikes
    account_since: int
    address_since: int

    def succeeded(self) -> None:
        self.limits.accounts.succeeded(self.account, self.account_since)
        self.limits.addresses.succeeded(self.address, self.address_since)

    def failed(self, now: int) -> None:
        self.limits.accounts.failed(self.account, now)
        self.limits.addresses.failed(self.address, now)

    def unchecked(self) -> None:
        Tracker.give_back(self.account, self.account_since)
        Tracker.give_back(self.address, self.address_since)


def address_key(address: str) -> str:
    """The address as counted: an IPv4 address, an IPv6 /64 network, or the text as given when not an IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginLimits:
    def __init__(self, capacity: int = MAX_TRACKED) -> None:
        self.accounts = Tracker(ACCOUNT_POLICY, capacity)
        self.addresses = Tracker(ADDRESS_POLICY, capacity)

    def admit(self, account_name: str, address: str, now: int) -> Attempt:
        """Counts the attempt against both limits, or raises the typed refusal (ID.1000) and counts nothing."""
        shown = account_name if len(account_name) <= MAX_NAME else account_name[:MAX_NAME] + "..."
        # A digest as the key: names are remembered in constant space, however long the name sent.
        name_key = hashlib.blake2b(account_name.encode(), digest_size=16).digest()
        address_shown = address_key(address)
        by_address = self.addresses.admit(address_shown, f"client[address:{address_shown}]", now)
        by_account = self.accounts.admit(name_key, f"account[name:{shown}]", now)
        by_address.counted += 1
        by_account.counted += 1
        return Attempt(self, by_account, by_address, by_account.counting_since, by_address.counting_since)
