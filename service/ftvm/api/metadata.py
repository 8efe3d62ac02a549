"""The gRPC metadata keys the service reads, beside the request message (the REST gateway sets them from HTTP)."""

AUTHORIZATION = "authorization"  # `OAuth <sessionUuid>`
# The REST gateway's client, as it tells the gRPC server it forwards to over loopback.
FORWARDED_FOR = "x-forwarded-for"
# Names a create (REST: the `Idempotency-Key` header), so that its retries get the original reply.
IDEMPOTENCY_KEY = "idempotency-key"
# The request's id on every log line of the call (REST: the `X-Request-Id` header); echoed in the trailing metadata.
REQUEST_ID = "x-request-id"
