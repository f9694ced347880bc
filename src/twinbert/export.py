"""`twinbert export`'s library call: load a model in torch at float32 and write it for other runtimes.

It lives beside encoder.py, not in runtime/, because it loads the encoder: runtime/ (export_folder writes
the folder from an encoder it is given) never imports the floor above it.
"""
from __future__ import annotations

from pathlib import Path

from .errors import InputError


def export_model(model, out, *, backend: str = "onnx", precision: str = "float32", calibration=None,
                 overwrite: bool = False, trust_remote_code: bool = False) -> dict:
    """`twinbert export`: load `model` (a name, a folder) in torch at float32 and write it to `out` (see
    twinbert.runtime.folder.export_folder). calibration: sentences, or the path of a text file of them
    (static int8)."""
    from .encoder import load
    from .formats import resolve
    from .formats.model_folder import check_target as check_folder
    from .runtime import quantize
    from .runtime.backends import REFERENCE
    from .runtime.folder import check_target, export_folder

    check_target(backend, precision)
    if isinstance(calibration, (str, Path)):
        calibration = quantize.read_calibration(calibration)
    if calibration is not None and precision != "int8":
        raise InputError("calibration sentences are for --precision int8", argument="calibration")
    source = resolve.resolve(model)
    # before the (slow) load: the folder must be free, and never the model's own (by name or by path)
    check_folder(out, overwrite=overwrite, model_ok=False, sources=[source])
    encoder = load(source, device="cpu", backend=REFERENCE, trust_remote_code=trust_remote_code)
    encoder.name = str(model)
    return export_folder(encoder, out, backend=backend, precision=precision, calibration=calibration,
                         overwrite=overwrite)
