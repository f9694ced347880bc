"""The result document of `twinbert eval` / `twinbert sweep`: what was measured, on which data (file and
sha256), with which model, settings and library versions, and when, so a figure can be traced and rerun."""
from __future__ import annotations

import datetime as dt
import platform

from .. import batching
from ..modules.pooling import parse_modes


def versions() -> dict[str, str]:
    import torch
    import transformers

    from .. import __version__

    return {"twinbert": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def data_record(dataset) -> dict:
    """The data evaluated: name, file, sha256, rows (retrieval: queries and documents), rows skipped."""
    record = {"name": dataset.name, "path": str(dataset.path), "sha256": dataset.sha256,
              "rows": len(dataset.examples), "skipped_rows": len(dataset.skipped)}
    if dataset.kind == "retrieval":
        data = dataset.retrieval
        record.update(rows=None, queries=sum(1 for q in data.queries if data.relevant.get(q)), corpus=len(data.corpus))
    return record


def encode_settings(encoder, options: dict, seconds: float) -> dict:
    """The encoder's settings with the encode options of this run applied, and the seconds it took."""
    prompt = {k: options[k] for k in ("prompt_name", "prompt") if options.get(k) is not None}
    result = (encoder.settings(**prompt) if prompt else encoder.settings()) if hasattr(encoder, "settings") else {}
    if options.get("pooling") is not None:
        result["pooling"] = "+".join(parse_modes(options["pooling"]))
    result["layers"] = options.get("layers") or "last"
    if options.get("normalize") is not None:
        result["normalize"] = bool(options["normalize"])
    result["batch_tokens"] = options.get("batch_tokens") or batching.DEFAULT_BATCH_TOKENS
    if options.get("precision"):
        result["precision"] = options["precision"]
    result["seconds"] = round(seconds, 3)
    return result


def document(job, body: dict, *, encoder, model, settings: dict, times: tuple[float, float, float],
             plot=None) -> dict:
    """{"task", "split", "evaluation", **body, "model", "data", "versions", "settings", "seconds", "plots",
    "date"}; times: when the run started, when the data and model were loaded, when it was done."""
    start, loaded, done = times
    return {
        "task": job.task, "split": job.split, "evaluation": job.evaluation, **body,
        "model": getattr(encoder, "name", str(model)),
        "data": data_record(job.dataset),
        "versions": versions(),
        "settings": settings,
        **({"runtime": encoder.runtime_info()} if hasattr(encoder, "runtime_info") else {}),
        "seconds": {"load_data_and_model": round(loaded - start, 3), "evaluate": round(done - loaded, 3)},
        "plots": [str(plot)] if plot is not None else [],
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
