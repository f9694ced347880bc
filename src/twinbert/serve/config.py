"""ServeConfig: every knob of `twinbert serve`, one line each (the CLI flags map onto these fields)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"              # localhost unless told otherwise
    port: int = 8080
    api_key: str | None = None           # required as `Authorization: Bearer KEY` on every API route
    max_batch_tokens: int = 16384        # tokens packed into one engine call (TEI's default)
    max_client_batch_size: int = 2048    # inputs in one request (OpenAI's limit; clients send 100..2048); more: 413
    max_concurrent_requests: int = 512   # requests in flight (TEI's default); more: 429 at once
    max_input_tokens: int | None = None  # tokens of one input; default the model's max_seq_length
    payload_limit: int = 2_000_000       # request body bytes (TEI's default); more: 413
    request_timeout: float = 60.0        # seconds a request may take (body read + queue + work)
    cors_origins: tuple[str, ...] = ()   # origins allowed by CORS ("*" for any); none: no CORS headers
    allow_writes: bool = False           # POST /index/add (needs an index)
    graceful_timeout: float = 30.0       # seconds SIGTERM / Ctrl-C waits for requests in flight
    openai_encoding: str | None = None   # OpenAI's cl100k_base.tiktoken, to read token-id inputs (default: found offline)

    def info(self) -> dict:
        """The limits, as /info shows them."""
        return {"max_concurrent_requests": self.max_concurrent_requests, "max_batch_tokens": self.max_batch_tokens,
                "max_client_batch_size": self.max_client_batch_size, "payload_limit": self.payload_limit,
                "request_timeout": self.request_timeout, "allow_writes": self.allow_writes}
