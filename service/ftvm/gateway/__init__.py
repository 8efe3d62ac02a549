"""REST gateway: ZStack's REST API transcoded to the gRPC service from the proto's `google.api.http` annotations.

routes.py    the route table, read from the service descriptors
codec.py     JSON <-> messages by spec §3 (nulls, int64 as numbers, ZStack dates, both body shapes)
app.py       the aiohttp server forwarding over grpc.aio; statuses and envelopes of spec §5
openapi.py   OpenAPI 3.1 from the same routes and descriptors (GET /openapi.json)
"""

from .app import Gateway, serve
from .routes import Route, routes

__all__ = ["Gateway", "Route", "routes", "serve"]
