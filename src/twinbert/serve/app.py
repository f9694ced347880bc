"""create_app: the ASGI application of `twinbert serve` (FastAPI), with the error handlers that keep
every client mistake a 4xx in the shape of the API it called, and the middleware (limits.py, CORS)."""
from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import InputError
from . import docs_page, page, routes_openai, routes_rerank, routes_search, routes_status, routes_tei
from .engine import TooLong
from .errors import ApiError, body, from_input_error
from .limits import BodyError, Limits
from .state import Served


def create_app(served: Served) -> FastAPI:
    """The application serving `served`; its batcher starts and warms up with the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        served.start()
        warming = asyncio.create_task(served.warm_up())
        try:
            yield
        finally:
            if not warming.done():
                warming.cancel()
            await asyncio.get_running_loop().run_in_executor(None, served.stop)

    app = FastAPI(title="twinbert serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Sentence embeddings, similarity, rerank, classification and search over HTTP, "
                              "in OpenAI's, text-embeddings-inference's and Cohere's (rerank) shapes.")
    app.state.served = served
    routers = (routes_openai.router, routes_rerank.router, routes_tei.router, routes_status.router,
               routes_search.router, page.router, docs_page.router)
    for router in routers:
        app.include_router(router)
    _handle_errors(app)
    routes = {route.path for router in routers for route in router.routes} | {"/openapi.json"}
    app.add_middleware(Limits, config=served.config, metrics=served.metrics, routes=routes)
    if served.config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(served.config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"])
    return app


def _reply(request: Request, error: ApiError) -> JSONResponse:
    headers = {"Retry-After": "1"} if error.status == 429 else None
    return JSONResponse(body(request.url.path, error), status_code=error.status, headers=headers)


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _reply(request, exc)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError):
        return _reply(request, from_input_error(exc, 413 if isinstance(exc, TooLong) else 422))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return _reply(request, validation_error(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if isinstance(exc, BodyError):
            return _reply(request, exc.error)
        if exc.status_code == 400:  # FastAPI's "error parsing the body": not JSON, not UTF-8, nested too deep
            return _reply(request, ApiError(422, "the body is not valid JSON (UTF-8, not nested too deeply)"))
        return _reply(request, ApiError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        # a bug or a failing disk, never a client's input: still JSON in the API's shape, not a plain-text 500
        return _reply(request, ApiError(500, f"internal error ({type(exc).__name__}): {' '.join(str(exc).split())}"))


def validation_error(exc: RequestValidationError) -> ApiError:
    """One line naming the field at fault (the first error pydantic found) and what it expected."""
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        return ApiError(422, f"the body is not valid JSON: {first.get('ctx', {}).get('error', 'decode error')}")
    where = _place(first.get("loc", ()))
    field = ".".join(where) or "body"
    # a union (`input`: text, texts or token ids) fails once per form: name them all
    forms = list(dict.fromkeys(_form(str(e["loc"][len(where) + 1])) for e in exc.errors()
                               if _place(e.get("loc", ())) == where and len(e["loc"]) > len(where) + 1))
    expected = f" (accepted: {', '.join(forms)})" if len(forms) > 1 else ""
    return ApiError(422, f"{field}: {first.get('msg', 'invalid value')}{expected}", where[0] if where else None)


def _form(tag: str) -> str:
    """A union member as a user would name it: `list[list[int]]` -> "a list of lists of token ids"."""
    text = "a text" if ("str" in tag or "function-after" in tag) and "list" not in tag else tag
    for pattern, words in (("list[list[int]]", "a list of lists of token ids"), ("list[int]", "a list of token ids"),
                           ("list[list[", "a list of lists of texts"), ("list[", "a list of texts")):
        if text.startswith(pattern):
            return words
    return text


def _place(loc) -> list[str]:
    """The field's path in the body, without pydantic's union member tags (`str`, `list[int]`...)."""
    out = []
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(part, str) and ("[" in part or part in ("str", "int", "bool", "float")):
            break
        out.append(str(part))
    return out
