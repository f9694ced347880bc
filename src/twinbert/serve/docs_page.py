"""GET /docs: Swagger UI over /openapi.json, with its script and style served by this server (from the
fastapi-offline package of the `serve` extra), never from a CDN: the page works on a machine offline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from .errors import ApiError

router = APIRouter(include_in_schema=False)
FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
         "favicon.png": "image/png"}


def _assets() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    return Path(spec.origin).parent / "static" if spec is not None and spec.origin else None


@router.get("/docs")
async def docs() -> HTMLResponse:
    if _assets() is None:
        raise ApiError(404, "/docs needs the fastapi-offline package (pip install 'twinbert[serve]')")
    return get_swagger_ui_html(openapi_url="/openapi.json", title="twinbert serve - Swagger UI",
                               swagger_js_url="/docs/swagger-ui-bundle.js", swagger_css_url="/docs/swagger-ui.css",
                               swagger_favicon_url="/docs/favicon.png")


@router.get("/docs/{name}")
async def asset(name: str) -> FileResponse:
    folder = _assets()
    if name not in FILES or folder is None or not (folder / name).is_file():
        raise ApiError(404, f"no such file: /docs/{name}")
    return FileResponse(folder / name, media_type=FILES[name])
