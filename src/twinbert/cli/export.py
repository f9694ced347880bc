"""twinbert export: a model folder for other runtimes and languages (ONNX Runtime, OpenVINO,
sentence-transformers' backends, text-embeddings-inference) plus one standalone sentence graph."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("export", help="write a model for ONNX Runtime / OpenVINO, with a standalone sentence graph",
                       description="Writes OUT: the sentence-transformers model folder with onnx/model.onnx "
                                   "(--backend onnx) or openvino/openvino_model.xml (--backend openvino), which "
                                   "sentence-transformers loads with backend='onnx' / 'openvino', and "
                                   "onnx/sentence_embedding.onnx: token ids in (input_ids, attention_mask"
                                   "[, token_type_ids]), pooling + Dense + Normalize inside, sentence_embedding "
                                   "out, for onnxruntime in any language.")
    p.add_argument("model", help="model folder or name (e.g. all-MiniLM-L6-v2)")
    p.add_argument("output", help="folder to write (missing or empty; one holding a model or other files only "
                                  "with --overwrite; never the model's own folder)")
    p.add_argument("--backend", default="onnx", choices=["onnx", "openvino"], help="graph format (default onnx)")
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "int8"],
                   help="float32 (default, exact), bfloat16 (openvino) or int8 (quantized; dynamic, or static "
                        "with --calibration)")
    p.add_argument("--calibration", default=None, metavar="FILE",
                   help="int8: a text file of your own sentences (one a line) to calibrate on (static int8)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the model in OUTPUT, or write into a folder that holds other files (they are kept)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow custom model code shipped with the checkpoint (off by default)")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..runtime.folder import export_model

    report = export_model(args.model, args.output, backend=args.backend, precision=args.precision,
                          calibration=args.calibration, overwrite=args.overwrite,
                          trust_remote_code=args.trust_remote_code)
    int8 = f" ({report['int8']} int8)" if report["int8"] else ""
    common.emit(report, args.json, f"exported {args.model} for {report['backend']} at {report['precision']}{int8} "
                f"to {report['output']}: " + ", ".join(report["files"]) + "\nstandalone sentence graph: "
                f"{report['sentence_graph']} (max abs diff to torch {report['max_abs_diff']:.2e})")
    return 0
