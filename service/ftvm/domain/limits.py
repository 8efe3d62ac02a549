"""Request size limits, in one place. Each is answered with SYS.1007 (INVALID_ARGUMENT) before any other rule, and
the error never echoes the oversized value: an error's trailers must stay well under gRPC's 16 KiB metadata limit,
or the client gets a bare RESOURCE_EXHAUSTED instead of the ErrorCode.

Names (255) and descriptions (2048) are `common.MAX_NAME` / `common.MAX_DESCRIPTION` (ZStack's own limits). The
whole request (and every reply) is capped at `api.base.MAX_MESSAGE_BYTES` (4 MiB).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ftvm.contract import MAX_UUID_LENGTH  # noqa: F401 -- one of the limits, defined where the gateway finds it

from .errors import invalid

# Short enumerated strings (strategy, type, media type ...): the longest valid value is far shorter.
MAX_KEYWORD_LENGTH = 255
# One NIC per L3, and each NIC takes 4 COLO ports on both hosts: 16 is more NICs than any FT VM uses.
MAX_L3_NETWORKS = 16
# Each data disk is 4 volume rows (primary, secondary copy, 2 COLO caches): 24 disks is already 100 volumes.
MAX_DATA_DISKS = 24
# Per tag list (systemTags, userTags, root/data volume tags, tagUuids): tags are labels, not a data store.
MAX_TAGS = 64
# ZStack's tag patterns (`staticIp::uuid::ip`, `hostname::...`) are far shorter; user tags are short labels.
MAX_TAG_LENGTH = 1024
# Query `q`: conditions are ANDed, so more than a few dozen adds nothing but SQL to plan.
MAX_CONDITIONS = 32
# One condition: room for `uuid?=` with ~120 uuids.
MAX_CONDITION_LENGTH = 4096
# Values of one `?=` / `!?=` list (a page is at most 1000 rows); 32 x 1000 stays under PostgreSQL's 65,535
# bind parameters per statement.
MAX_IN_VALUES = 1000
# Ceph monitors of one primary storage: a Ceph cluster runs 3-7.
MAX_MON_URLS = 16
# A global config value (a ratio, a size, a CIDR, true/false).
MAX_CONFIG_VALUE_LENGTH = 1024


# C0 and C1 controls and DEL (NUL, ESC, CR, LF, TAB ...), the Unicode line and paragraph separators, and the
# bidirectional embedding/override/isolate controls (text that displays in another order than it reads).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def text_problem(value: str, limit: int, *, trim: bool = False) -> str | None:
    """What is wrong with a text field, None if nothing: more than `limit` characters (once trimmed, for a text that
    is), or a control character anywhere (a trailing CR/LF is refused, not trimmed away). The text is not echoed.
    `check_text` and `common.check_name` answer it as FtErrors, the inventory model's text types as its problems."""
    if len(value.strip() if trim else value) > limit:
        return f"exceeds max length of string[{limit}]"
    control = _CONTROL.search(value)
    if control is not None:
        return f"contains a control character (U+{ord(control.group()):04X} at position {control.start()})"
    return None


def check_text(value: str | None, field: str, message: str, limit: int) -> None:
    """A text field: at most `limit` characters and no control characters."""
    problem = None if value is None else text_problem(value, limit)
    if problem is not None:
        raise invalid(f"field[{field}] of message[{message}] {problem}")


def check_list(values: Sequence[str], field: str, message: str, max_items: int, max_length: int) -> None:
    """At most `max_items` entries, each a text field of at most `max_length` characters."""
    if len(values) > max_items:
        raise invalid(
            f"field[{field}] of message[{message}] has {len(values)} entries; at most {max_items} are allowed"
        )
    for i, value in enumerate(values):
        check_text(value, f"{field}][{i}", message, max_length)
