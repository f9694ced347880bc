"""The web page at / (static files under serve/static/, served by twinbert itself: no CDN, no build
step): type sentences and see their similarity matrix as a heatmap, search the loaded index, compare
poolings for one sentence. It calls the server's own routes (/similarity is not enough for a matrix,
so the page asks /embed and computes cosines of the normalized vectors)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from .errors import ApiError

STATIC = Path(__file__).parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> Response:
    return FileResponse(STATIC / "index.html", media_type=TYPES[".html"])


@router.get("/static/{name}")
async def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, f"no such file: /static/{name}")
    return FileResponse(path, media_type=TYPES[path.suffix])
