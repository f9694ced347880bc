"""The door of the server (a plain ASGI middleware): API key, concurrent requests, body size, request
time, and the per-route request metrics. What it refuses is refused before any JSON is parsed.

- 401 without `Authorization: Bearer KEY` (when a key is set) on every route but GETs of /health, /ping,
  /metrics, the page, the schema and /docs; the key is compared in constant time.
- 429 at once when max_concurrent_requests are in flight: overload is refused, never queued for ever.
- 413 when the body is over payload_limit bytes (by its Content-Length, or as it streams in).
- 408 when the body has not arrived within request_timeout; 503 when the work has not finished by then.
"""
from __future__ import annotations

import asyncio
import hmac
import time

from starlette.exceptions import HTTPException

from .config import ServeConfig
from .errors import ApiError, encoded
from .metrics import Metrics

# open without the key to GET: health checks, the page (it asks for the key itself), the schema and its
# Swagger page, and /metrics (scrapers carry no key; TEI keeps it open too)
OPEN = ("/health", "/ping", "/", "/openapi.json", "/docs", "/metrics")
OPEN_PREFIXES = ("/static/", "/docs/")


class BodyError(HTTPException):
    """Raised inside the app while it reads the body (an HTTPException, so that FastAPI passes it on);
    turned into the response by the error handlers (app.py)."""

    def __init__(self, error: ApiError):
        super().__init__(error.status, error.message)
        self.error = error


class Limits:
    def __init__(self, app, config: ServeConfig, metrics: Metrics, routes: set[str]):
        self.app, self.config, self.metrics, self.routes = app, config, metrics, routes
        self.key = f"Bearer {config.api_key}".encode() if config.api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        started = time.perf_counter()
        status = [0]
        route = path if path in self.routes else ("/static" if path.startswith("/static/") else "other")

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                # counted before the answer leaves, so that a client's next request already sees it
                self.metrics.request(route, status[0], time.perf_counter() - started)
            await send(message)

        try:
            refused = self._refusal(scope, path)
            if refused is not None:
                return await respond(send_status, path, refused)
            if scope["method"] != "POST":
                return await self.app(scope, receive, send_status)
            self.metrics.in_flight += 1
            released = [False]

            def release() -> None:
                if not released[0]:
                    released[0] = True
                    self.metrics.in_flight -= 1

            async def send_released(message):
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    release()  # before the last byte leaves: the client's next request finds the slot free
                await send_status(message)

            try:
                await self._limited(scope, receive, send_released, path, status)
            finally:
                release()
        finally:
            if not status[0]:  # no answer at all (the client left, or a bug): counted as a failure
                self.metrics.request(route, 499, time.perf_counter() - started)

    def _refusal(self, scope, path: str) -> ApiError | None:
        opened = scope["method"] in ("GET", "HEAD") and (path in OPEN or path.startswith(OPEN_PREFIXES))
        if self.key is not None and scope["method"] != "OPTIONS" and not opened:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.key):
                return ApiError(401, "missing or wrong API key: send the header 'Authorization: Bearer KEY'")
        if scope["method"] == "POST":
            if self.metrics.in_flight >= self.config.max_concurrent_requests:
                return ApiError(429, f"Model is overloaded: {self.config.max_concurrent_requests} requests in flight "
                                     "(max_concurrent_requests); retry later")
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.config.payload_limit:
                return ApiError(413, f"the body has {int(length)} bytes, more than the limit of "
                                     f"{self.config.payload_limit} (payload_limit)")
        return None

    async def _limited(self, scope, receive, send, path: str, status: list) -> None:
        limit, timeout = self.config.payload_limit, self.config.request_timeout
        deadline = time.monotonic() + timeout
        seen, complete = [0], [False]

        async def bounded_receive():
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise BodyError(ApiError(408, f"the body did not arrive within {timeout:g} s")) from None
            seen[0] += len(message.get("body", b""))
            complete[0] = not message.get("more_body", False)
            if seen[0] > limit:
                raise BodyError(ApiError(413, f"the body is more than the limit of {limit} bytes (payload_limit)"))
            return message

        try:
            await asyncio.wait_for(self.app(scope, bounded_receive, send), timeout)
        except asyncio.TimeoutError:
            if status[0]:
                return
            if not complete[0]:
                await respond(send, path, ApiError(408, f"the body did not arrive within {timeout:g} s"))
            else:
                await respond(send, path, ApiError(503, f"the request took more than {timeout:g} s "
                                                        "(request_timeout); the server is busy"))


async def respond(send, path: str, error: ApiError) -> None:
    payload = encoded(path, error)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if error.status == 429:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
