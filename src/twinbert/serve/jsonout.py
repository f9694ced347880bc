"""JSON responses written by orjson: numpy arrays go out as they are (float32 in its shortest exact form),
about 20x faster than json.dumps of Python floats — on a busy 2-core server, time the model gets back."""
from __future__ import annotations

import orjson
from starlette.responses import Response


class Json(Response):
    media_type = "application/json"

    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
