"""Errors in the two APIs' shapes: OpenAI's under /v1, TEI's elsewhere.

OpenAI: `{"error": {"message", "type", "param", "code"}}`. TEI: `{"error", "error_type"}` with
error_type validation (413, 422), overloaded (429), unhealthy (503), empty (400)... A client's input never
gets a 5xx: every library error (InputError) becomes a 4xx naming the field at fault.
"""
from __future__ import annotations

import json

from ..errors import InputError

# status -> (OpenAI type, TEI error_type)
KINDS = {
    400: ("invalid_request_error", "empty"), 401: ("authentication_error", "unauthorized"),
    403: ("permission_error", "forbidden"), 404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"), 408: ("timeout_error", "timeout"),
    413: ("invalid_request_error", "validation"), 415: ("invalid_request_error", "validation"),
    422: ("invalid_request_error", "validation"), 429: ("rate_limit_error", "overloaded"),
    503: ("server_error", "unhealthy"), 504: ("timeout_error", "backend"),
}


class ApiError(Exception):
    """An HTTP error with a message naming the field at fault (`param`)."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def from_input_error(error: InputError, status: int = 422) -> ApiError:
    message = " ".join(str(error).split())
    return ApiError(status, message, error.argument)


def is_openai(path: str) -> bool:
    return path.startswith("/v1/")


def body(path: str, error: ApiError) -> dict:
    """The JSON body of `error` in the shape of the API `path` belongs to."""
    openai_type, tei_type = KINDS.get(error.status, ("server_error", "backend"))
    if is_openai(path):
        return {"error": {"message": error.message, "type": openai_type, "param": error.param, "code": error.code}}
    return {"error": error.message, "error_type": tei_type}


def encoded(path: str, error: ApiError) -> bytes:
    return json.dumps(body(path, error)).encode()
