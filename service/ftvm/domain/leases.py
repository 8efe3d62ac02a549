"""Leases: work that one replica at a time must do (watching the hosts, recovering FT groups, reconciling the agents'
VMs with the rows) goes to whichever replica holds the lease of its name.

A lease is a row (`leases`: name, holder, expires) taken with one guarded UPDATE in a write: the holder renews it,
anyone may take it once it expired. A replica that cannot renew in time (its database is away, its loop is stuck)
loses it to another; it learns so at its next renewal and stops. Everything the holder does is idempotent or
guarded in the database, so the short overlap around a takeover is harmless.
"""

from __future__ import annotations

from ftvm.store import Conflict, Tx

from .common import Domain


class Lease:
    def __init__(self, domain: Domain, name: str, holder: str, ttl_ms: int) -> None:
        self._domain = domain
        self.name = name
        self.holder = holder
        self.ttl_ms = ttl_ms
        self.held = False

    async def renew(self) -> bool:
        """Takes or renews the lease; True while this replica holds it."""
        now = self._domain.clock()

        def op(tx: Tx) -> bool:
            rows = tx.select("leases", {"name": self.name})
            if not rows:
                try:
                    tx.insert("leases", [dict(name=self.name, holder=self.holder, expires=now + self.ttl_ms)])
                except Conflict:  # another replica inserted it first
                    return False
                return True
            row = rows[0]
            if row["holder"] != self.holder and row["expires"] > now:
                return False
            # Guarded: the row must still be as read (two replicas taking an expired lease: one update wins).
            return (
                tx.update(
                    "leases",
                    {"name": self.name, "holder": row["holder"], "expires": row["expires"]},
                    {"holder": self.holder, "expires": now + self.ttl_ms},
                )
                == 1
            )

        self.held = await self._domain.write(op)
        return self.held

    async def release(self) -> None:
        if self.held:
            await self._domain.write(lambda tx: tx.delete("leases", {"name": self.name, "holder": self.holder}))
            self.held = False
