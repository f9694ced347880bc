"""Which model made an index's vectors: the fingerprint of its weights plus the settings that shape the vectors.

An index records both (``model.fingerprint`` and ``model.settings`` in meta.json), so that vectors
from another model are refused even when that model kept the name: retrained in place, or another
model saved under the same folder name. The fingerprint is twinbert.formats.hashing.model_fingerprint
(weights rounded to bfloat16: a float32 and a bfloat16 load of one model are one model; moved or
renamed, still the same model). The settings are compared key by key, over the keys both records
have, so an index keeps working when a later twinbert records more settings.
"""
from __future__ import annotations

import json
from typing import Any

from ..formats.hashing import model_fingerprint

# settings that do not change the vectors (beyond rounding): where the model lives or runs, the runtime
# and precision it runs in, how vectors are compared
IGNORED_SETTINGS = ("model", "device", "similarity", "precision", "backend")


def vector_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The settings (as ``encoder.settings()`` gives them, or as an index recorded them) that shape
    the vectors, in their JSON form."""
    kept = {k: v for k, v in (settings or {}).items() if k not in IGNORED_SETTINGS}
    return json.loads(json.dumps(kept, default=str))


def mismatch(recorded: dict[str, Any], encoder: Any, settings: dict[str, Any] | None = None) -> str | None:
    """Why ``encoder`` does not make the vectors of ``recorded`` (an index's model record with a
    ``fingerprint``), or None when it does. None also when the encoder has no weights to hash.
    settings: the encoder's settings to compare (default ``encoder.settings()``; the index gives those
    with its corpus prompt)."""
    current = model_fingerprint(encoder)
    if current is None:
        return None
    name = getattr(encoder, "name", None)
    old = vector_settings(recorded.get("settings"))
    if settings is None:
        settings = encoder.settings() if callable(getattr(encoder, "settings", None)) else {}
    new = vector_settings(settings)
    for key in sorted(set(old) & set(new)):
        if old[key] != new[key]:
            return (f"the encoder {name!r} has {key} {new[key]!r} but the index was built with "
                    f"{key} {old[key]!r} (model {recorded.get('name')!r})")
    if current != recorded.get("fingerprint"):
        return (f"the encoder {name!r} has other weights than the model the index was built with "
                f"({recorded.get('name')!r}): retrained, or another model of that name")
    return None
