"""Limits of the API contract that more than one layer applies (the README's limits table): the domain checks them on
every call, the REST gateway also on path and query values before it forwards them. A leaf module, so the gateway
can use it without importing the domain."""

# A uuid is 32 hex digits (36 with dashes); a longer value cannot name anything and would only be echoed back.
MAX_UUID_LENGTH = 64
