"""Every hash twinbert writes or compares, in one place: of files, of settings, and of a model's weights.

Files
- :func:`file_sha256`: hex sha256 of a file's bytes (equal to ``sha256sum FILE``). What every on-disk record
  that a user may check by hand keeps: a dataset's source, an index folder's files, the e5 package, the input
  and output shards of a distributed encode.
- :func:`files_sha256`: the same for a set of files (a dataset read from several): the sha256 of their
  ``sha256sum``-style listing, so it can be checked by hand with ``sha256sum FILES | sha256sum``.
- :func:`file_blake2b`: 16-byte blake2b hex of a file's bytes; about twice as fast as sha256, for records
  only twinbert reads (the compiled-model cache's manifests).

Settings
- :func:`text_blake2b`: 16-byte blake2b hex of a text (a calibration set, a cache key's parts).
- :func:`json_blake2b`: the same of a JSON-able record, keys sorted, so equal records hash alike whatever
  the order their keys were built in (a compiled graph's weights hash + settings -> its cache key).

Weights (torch is imported only by these, on first call)
- :func:`weights_state`: a cheap token of a module's weights (each tensor's name, storage, in-place version
  and shape), no bytes read: equal tokens mean "the weights did not change since", so a costly hash is
  redone only when a tensor was replaced or changed in place (torch bumps the version on every in-place
  change, e.g. an optimizer step). None for inference-mode tensors, which keep no version.
- :func:`weights_blake2b`: the exact weights: each tensor's name, dtype, shape and bytes, in state_dict order.
  What a compiled graph is built from: another dtype is another graph.
- :func:`model_fingerprint`: ``"blake2b:<hex>"``, which model made a set of vectors (recorded by an index
  and by a distributed encode's manifest). Floating tensors are hashed rounded to bfloat16, names sorted,
  so the same model loaded in float32 or bfloat16 has one fingerprint while any real change of the weights
  (a training step) still shows; a float16 load rounds differently and counts as another model. About 0.1 s
  for all-MiniLM-L6-v2's 90 MB, cached on the object until :func:`weights_state` changes. Neither depends on
  the folder or the name, so the same model moved or renamed is still the same model.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

BLOCK = 1 << 22  # bytes read at a time: large enough to keep the hash, not the disk, the bottleneck
_FINGERPRINT_CACHE = "_twinbert_weights_digest"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in blocks (equal to ``sha256sum FILE``)."""
    return _file_digest(path, hashlib.sha256())


def files_sha256(paths) -> str:
    """Hex sha256 of one file (as :func:`file_sha256`), or of several: the sha256 of the listing
    ``"<sha256>  <file name>\\n"`` of every file, sorted by file name (``sha256sum`` prints the same lines)."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        return file_sha256(paths[0])
    listing = "".join(f"{file_sha256(p)}  {p.name}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def file_blake2b(path: str | os.PathLike) -> str:
    """16-byte blake2b hex of a file's bytes, read in blocks."""
    return _file_digest(path, hashlib.blake2b(digest_size=16))


def _file_digest(path: str | os.PathLike, digest) -> str:
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def text_blake2b(text: str) -> str:
    """16-byte blake2b hex of a text's UTF-8 bytes."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def json_blake2b(record: Any) -> str:
    """16-byte blake2b hex of a JSON-able record, keys sorted (so key order does not matter)."""
    return text_blake2b(json.dumps(record, sort_keys=True))


def weights_state(module: Any) -> tuple | None:
    """A token of ``module``'s weights that changes whenever a tensor is replaced or changed in place:
    (name, storage address, version, shape) of each state_dict tensor. No bytes are read. None when a
    tensor keeps no version (created in inference mode): then nothing can tell, and callers hash anew."""
    tensors = module.state_dict(keep_vars=True)
    try:
        return tuple((name, t.data_ptr(), t._version, tuple(t.shape)) for name, t in tensors.items())
    except RuntimeError:  # "Inference tensors do not track version counter"
        return None


def weights_blake2b(module: Any) -> str:
    """16-byte blake2b hex of ``module``'s exact weights: each state_dict tensor's name, dtype, shape and
    bytes, in state_dict order."""
    import torch

    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def model_fingerprint(model: Any) -> str | None:
    """``"blake2b:<hex>"`` of a model's weights rounded to bfloat16 (see the module docstring), or None for
    an object without a state_dict (then only a model's name and dimension can be compared). An object
    with its own ``fingerprint()`` method answers for itself."""
    own = getattr(model, "fingerprint", None)
    if callable(own):
        return own()
    if not callable(getattr(model, "state_dict", None)):
        return None
    state = weights_state(model)
    cached = getattr(model, _FINGERPRINT_CACHE, None)
    if state is not None and cached is not None and cached[0] == state:
        return cached[1]
    value = "blake2b:" + _rounded_weights_blake2b(model)
    if state is not None:
        setattr(model, _FINGERPRINT_CACHE, (state, value))
    return value


def _rounded_weights_blake2b(model: Any) -> str:
    """blake2b of each state_dict tensor's name, shape and bytes, names sorted, floating tensors in bfloat16."""
    import torch

    tensors = model.state_dict()
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        t = tensors[name].detach()
        if t.is_floating_point():
            t = t.to(torch.bfloat16)
        digest.update(f"{name}|{tuple(t.shape)}\n".encode())
        digest.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()
