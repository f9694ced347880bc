"""Which model made a set of vectors: a hash of its weights plus the settings that shape the vectors.

An index records both (``model.fingerprint`` and ``model.settings`` in meta.json), so that vectors
from another model are refused even when that model kept the name: retrained in place, or another
model saved under the same folder name. Neither depends on the folder or the name, so the same
model moved or renamed is still the same model.

- The fingerprint hashes each state_dict tensor's name, shape and bytes: about 0.1 s for
  all-MiniLM-L6-v2's 90 MB, cached on the encoder until a tensor changes (torch bumps a tensor's
  version on every in-place change, e.g. an optimizer step). Floating tensors are hashed rounded to
  bfloat16, so the same model loaded in float32 or bfloat16 has one fingerprint (both hold the same
  bfloat16 values after rounding), while any real change of the weights (a training step) still shows.
  A float16 load rounds differently and counts as another model (pass force=True).
- The settings are compared key by key, over the keys both records have, so an index keeps working
  when a later twinbert records more settings.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

# settings that do not change the vectors (beyond rounding): where the model lives or runs, the runtime
# and precision it runs in, how vectors are compared
IGNORED_SETTINGS = ("model", "device", "similarity", "precision", "backend")
_CACHE = "_twinbert_weights_digest"


def fingerprint(encoder: Any) -> str | None:
    """``"blake2b:<hex>"`` of the encoder's weights, or None for an encoder without a state_dict
    (then only the model's name and dimension can be compared)."""
    own = getattr(encoder, "fingerprint", None)
    if callable(own):
        return own()
    if not callable(getattr(encoder, "state_dict", None)):
        return None
    import torch

    tensors = encoder.state_dict(keep_vars=True)
    try:
        key = tuple((name, t.data_ptr(), t._version) for name, t in tensors.items())
    except RuntimeError:  # inference-mode tensors keep no version: hash every time
        key = None
    cached = getattr(encoder, _CACHE, None)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        t = tensors[name].detach()
        if t.is_floating_point():
            t = t.to(torch.bfloat16)
        digest.update(f"{name}|{tuple(t.shape)}\n".encode())
        digest.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    value = "blake2b:" + digest.hexdigest()
    if key is not None:
        setattr(encoder, _CACHE, (key, value))
    return value


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
    current = fingerprint(encoder)
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
