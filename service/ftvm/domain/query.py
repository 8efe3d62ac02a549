"""ZStack query arguments (`q`, `sort`, `limit`, `start`, `replyWithCount`) -> store conditions, and the query run.

A condition is `field<op>value`: `=`, `!=`, `>`, `<`, `>=`, `<=`, `?=` (in: comma-separated values), `!?=` (not in),
`~=` (like, `%` and `_` wildcards), `!~=` (not like); `field=null` / `field!=null` test for a missing value. Field
names are camelCase (as on REST) or snake_case and must be columns of the queried view (SYS.1007 otherwise).
At most `MAX_CONDITIONS` conditions of at most `MAX_CONDITION_LENGTH` characters, and `MAX_IN_VALUES` values per
in-list (`limits.py`).

Values stay strings, except:
- a canonical integer literal (`4`, `-2`, not `007`) within 64 bits becomes an int, so `cpuNum>4` compares numbers
  even on a view's computed column (which has no type affinity in SQLite); a text column still matches it as text;
- `true` / `false` on a boolean column (`BOOLEAN_COLUMNS`) become 1 / 0, as booleans are stored.

Paging: `limit` defaults to `DEFAULT_LIMIT` (ZStack's default of 1000) and may not exceed `MAX_LIMIT`; `limit=0`
returns no rows (with `replyWithCount` it is a count-only query). `start` defaults to 0. Without `sort` the order is
the store's (insertion order for SQLite tables); page with a sort to get stable pages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftvm.store import Condition, Row

from .common import Domain
from .errors import invalid
from .limits import MAX_CONDITION_LENGTH, MAX_CONDITIONS, MAX_IN_VALUES, MAX_KEYWORD_LENGTH

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000
BOOLEAN_COLUMNS = frozenset({"system", "is_shareable"})

# Longest operators first, so `!?=` is not read as `!` + `?=`.
_CONDITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(!\?=|!~=|\?=|~=|!=|>=|<=|=|>|<)(.*)$", re.DOTALL)
_OPS = {
    "=": "=",
    "!=": "!=",
    ">": ">",
    "<": "<",
    ">=": ">=",
    "<=": "<=",
    "?=": "in",
    "!?=": "not-in",
    "~=": "like",
    "!~=": "not-like",
}
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")
_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class QueryRequest:
    """A query's arguments; None = not given (the defaults above apply)."""

    q: Sequence[str] = ()
    sort: str | None = None
    limit: int | None = None
    start: int | None = None
    count: bool = False  # replyWithCount: also answer the total number of matching rows


def column_name(field: str, columns: frozenset[str]) -> str:
    """`zoneUuid` or `zone_uuid` -> `zone_uuid`, which must be a column of the view."""
    name = _CAMEL_BOUNDARY.sub("_", field).lower()
    if name not in columns:
        raise invalid(f"invalid query field[{field}]: no such field to query on")
    return name


def _value(column: str, text: str) -> Any:
    if column in BOOLEAN_COLUMNS and text in ("true", "false"):
        return int(text == "true")
    if _INTEGER.match(text) and -(1 << 63) <= int(text) < 1 << 63:  # a larger one stays text: SQL has no such int
        return int(text)
    return text


def parse_conditions(q: Sequence[str], columns: frozenset[str]) -> list[Condition]:
    if len(q) > MAX_CONDITIONS:
        raise invalid(f"invalid query: {len(q)} conditions; at most {MAX_CONDITIONS} are allowed")
    conditions = []
    for i, text in enumerate(q):
        if len(text) > MAX_CONDITION_LENGTH:
            raise invalid(f"invalid query condition[{i}]: longer than {MAX_CONDITION_LENGTH} characters")
        match = _CONDITION.match(text)
        if match is None:
            raise invalid(f"invalid query condition[{text}]: expected field<op>value with op one of {', '.join(_OPS)}")
        field, op, value = match.groups()
        column = column_name(field, columns)
        if value == "null" and op in ("=", "!="):
            conditions.append(Condition(column, "is-null" if op == "=" else "not-null"))
        elif op in ("?=", "!?="):
            values = value.split(",")
            if len(values) > MAX_IN_VALUES:
                raise invalid(
                    f"invalid query condition[{i}]: {len(values)} values; at most {MAX_IN_VALUES} are allowed"
                )
            conditions.append(Condition(column, _OPS[op], [_value(column, v) for v in values]))
        elif op in ("~=", "!~="):
            conditions.append(Condition(column, _OPS[op], value))
        else:
            conditions.append(Condition(column, _OPS[op], _value(column, value)))
    return conditions


def parse_sort(sort: str | None, columns: frozenset[str]) -> tuple[str, bool] | None:
    """`+createDate` / `createDate` ascending, `-createDate` descending. A URL-decoded `+` arrives as a space,
    hence the strip."""
    if sort is None or not sort.strip():
        return None
    if len(sort) > MAX_KEYWORD_LENGTH:
        raise invalid(f"invalid sort: longer than {MAX_KEYWORD_LENGTH} characters")
    text = sort.strip()
    ascending = not text.startswith("-")
    return column_name(text.lstrip("+-"), columns), ascending


def check_page(limit: int | None, start: int | None) -> tuple[int, int]:
    """(limit, start) with the defaults applied."""
    limit = DEFAULT_LIMIT if limit is None else limit
    start = 0 if start is None else start
    if not 0 <= limit <= MAX_LIMIT:
        raise invalid(f"invalid limit[{limit}]: must be between 0 and {MAX_LIMIT}")
    if start < 0:
        raise invalid(f"invalid start[{start}]: must not be negative")
    return limit, start


async def run_query(
    domain: Domain, view: str, request: QueryRequest, extra: Sequence[Condition] = ()
) -> tuple[list[Row], int | None]:
    """Rows of `view` matching the request (and `extra`, e.g. an account filter), and the total matching count
    when the request asks for it. The read runs off the event loop."""
    columns = domain.store.columns(view)
    conditions = parse_conditions(request.q, columns) + list(extra)
    sort = parse_sort(request.sort, columns)
    limit, start = check_page(request.limit, request.start)
    return await asyncio.to_thread(domain.store.query, view, conditions, sort, limit, start, request.count)
