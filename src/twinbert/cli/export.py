"""twinbert export: a model folder for other runtimes and languages (ONNX Runtime, OpenVINO,
sentence-transformers' backends, text-embeddings-inference) plus one standalone sentence graph."""
from __future__ import annotations

import inspect

from . import common

# what each precision means in a written graph (which backends compute it comes from their registry)
PRECISION_NOTES = {"float32": "exact", "int8": "quantized; dynamic, or static with --calibration"}


def register(sub) -> None:
    from ..export import export_model
    from ..runtime import backends

    graphs = {name: backends.get(name).graph for name in backends.exported()}
    defaults = {k: v.default for k, v in inspect.signature(export_model).parameters.items()
                if v.kind is v.KEYWORD_ONLY}
    written = " or ".join(f"{g.folder}/{g.files[0]} (--backend {name})" for name, g in graphs.items())
    p = sub.add_parser("export", help="write a model for ONNX Runtime / OpenVINO, with a standalone sentence graph",
                       description=f"Writes OUT: the sentence-transformers model folder with {written}, which "
                                   "sentence-transformers loads with backend=" + " / ".join(map(repr, graphs))
                                   + ", and onnx/sentence_embedding.onnx: token ids in (input_ids, attention_mask"
                                   "[, token_type_ids]), pooling + Dense + Normalize inside, sentence_embedding "
                                   "out, for onnxruntime in any language.")
    p.add_argument("model", help="model folder or name (e.g. all-MiniLM-L6-v2)")
    p.add_argument("output", help="folder to write (missing or empty; one holding a model or other files only "
                                  "with --overwrite; never the model's own folder)")
    p.add_argument("--backend", default=defaults["backend"], choices=tuple(graphs),
                   help=f"graph format (default {defaults['backend']})")
    precisions = _precisions(graphs)
    p.add_argument("--precision", default=defaults["precision"], choices=tuple(precisions),
                   help=", ".join(precisions.values()) + f" (default {defaults['precision']})")
    p.add_argument("--calibration", default=defaults["calibration"], metavar="FILE",
                   help="int8: a text file of your own sentences (one a line) to calibrate on (static int8)")
    p.add_argument("--overwrite", action="store_true", default=defaults["overwrite"],
                   help="replace the model in OUTPUT, or write into a folder that holds other files (they are kept)")
    p.add_argument("--trust-remote-code", action="store_true", default=defaults["trust_remote_code"],
                   help="allow custom model code shipped with the checkpoint (off by default)")
    common.add_json(p)
    p.set_defaults(run=run)


def _precisions(graphs: dict) -> dict[str, str]:
    """Each precision some graph backend writes, in twinbert's order, with what it is and, when not every
    backend writes it, which do."""
    from ..runtime import backends
    from ..runtime.choose import PRECISIONS

    found = {}
    for precision in PRECISIONS:
        writers = [name for name in graphs if backends.get(name).supports(precision)]
        notes = [PRECISION_NOTES[precision]] if precision in PRECISION_NOTES else []
        notes += [", ".join(writers)] if 0 < len(writers) < len(graphs) else []
        if writers:
            found[precision] = f"{precision} ({'; '.join(notes)})" if notes else precision
    return found


def run(args) -> int:
    from ..export import export_model

    report = export_model(args.model, args.output, backend=args.backend, precision=args.precision,
                          calibration=args.calibration, overwrite=args.overwrite,
                          trust_remote_code=args.trust_remote_code)
    int8 = f" ({report['int8']} int8)" if report["int8"] else ""
    common.emit(report, args.json, f"exported {args.model} for {report['backend']} at {report['precision']}{int8} "
                f"to {report['output']}: " + ", ".join(report["files"]) + "\nstandalone sentence graph: "
                f"{report['sentence_graph']} (max abs diff to torch {report['max_abs_diff']:.2e})")
    return 0
