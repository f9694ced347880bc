"""twinbert encode: texts -> embeddings. Locally: one file (txt / csv / tsv / jsonl) -> .npy / .jsonl, streamed;
with --engine ray: files or a glob (also .parquet) -> a folder of Parquet shards + manifest.json, on a Ray cluster."""
from __future__ import annotations

import logging

from . import common


def register(sub) -> None:
    p = sub.add_parser("encode", help="encode a file of texts into .npy or .jsonl embeddings (or Parquet shards on Ray)",
                       description="Encode every text of a file. Streams: memory stays bounded whatever "
                                   "the number of lines; progress (rows/s, ETA) on stderr. With --engine ray: "
                                   "every file of --input (a path or a glob) on a Ray cluster, into --output DIR "
                                   "(Parquet shards id/embedding + manifest.json; a re-run resumes).")
    common.add_model(p)
    p.add_argument("--input", "-i", required=True,
                   help="texts: .txt (one per line), .csv/.tsv/.jsonl with --column; with --engine ray a glob "
                        "('data/*.jsonl') and .parquet too")
    p.add_argument("--column", "-c", default=None, help="column (csv/tsv/parquet) or field (jsonl) holding the text")
    p.add_argument("--output", "-o", required=True,
                   help="OUT.npy (float32 [rows, dim]) or OUT.jsonl; with --engine ray a folder")
    common.add_encoding(p)
    p.add_argument("--chunk-rows", type=common.positive_int, default=8192,
                   help="rows encoded per chunk (bounds memory)")
    common.add_chunking(p)  # one .jsonl line per chunk: its document row, character span, passage and vector
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (this process, default) or ray (an actor pool on a Ray cluster: pip install 'twinbert[ray]')")
    p.add_argument("--address", default=None,
                   help="--engine ray: the cluster (HOST:PORT, ray://HOST:PORT or auto; default: a local runtime)")
    p.add_argument("--actors", type=common.positive_int, default=None,
                   help="--engine ray: actors in the pool (default: one per node; the cluster's CPUs / --actor-cpus)")
    p.add_argument("--actor-cpus", type=common.positive_int, default=None,
                   help="--engine ray: CPUs (threads) of each actor (default: all of a node's CPUs, or the "
                        "cluster's CPUs / --actors; 1 with --actor-gpus)")
    p.add_argument("--actor-gpus", type=float, default=0, help="--engine ray: GPUs of each actor (default 0)")
    p.add_argument("--keep-text", action="store_true", help="--engine ray: also store each row's text in the shards")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress and no notes on stderr (warnings and errors still show)")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    if args.quiet:  # the notes (e.g. "compiling onnx float32 graph") go with the progress
        with common.log_level(logging.WARNING):
            return _run(args)
    return _run(args)


def _run(args) -> int:
    from pathlib import Path

    from ..encode_file import check_output, encode_file
    from ..errors import InputError

    if args.engine == "ray":
        return run_ray(args)
    # fail before the (slow) model load on paths that cannot work
    check_output(args.output, args.input)
    if not Path(args.input).is_file():
        raise InputError(f"{args.input}: input file not found")
    if args.chunking is not None or args.chunk_tokens is not None or args.overlap is not None:
        return _run_chunked(args)
    encoder = common.load_model(args)
    summary = encode_file(encoder, args.input, args.output, column=args.column, chunk_rows=args.chunk_rows,
                          show_progress=not args.quiet, precision=None, **common.encode_kwargs(args))
    common.emit(summary, args.json, f"wrote {summary['rows']} x {summary['dimension']} embeddings to "
                f"{summary['output']} in {summary['seconds']:.1f} s ({summary['rows_per_second']:,.0f} rows/s)")
    return 0


def _run_chunked(args) -> int:
    from ..chunking.to_file import check_chunked_output, encode_file_chunked
    from ..errors import InputError

    if args.chunking is None:
        raise InputError("--chunk-tokens and --overlap size the chunks of --chunking chunks|late; give --chunking too",
                         argument="--chunking")
    check_chunked_output(args.output)
    encoder = common.load_model(args)
    summary = encode_file_chunked(encoder, args.input, args.output, column=args.column,
                                  chunk_rows=min(args.chunk_rows, 1024), **common.chunking_kwargs(args),
                                  **common.encode_kwargs(args))
    common.emit(summary, args.json, f"wrote {summary['chunks']} chunk embeddings of {summary['rows']} texts "
                f"({summary['chunking']['method']}, {summary['chunking']['chunk_tokens']} tokens, overlap "
                f"{summary['chunking']['overlap']}) to {summary['output']} in {summary['seconds']:.1f} s")
    return 0


def run_ray(args) -> int:
    from ..distributed import encode_files

    common.check_device(args.device)
    summary = encode_files(args.input, args.output, args.model, column=args.column, address=args.address,
                           actors=args.actors, num_cpus=args.actor_cpus, num_gpus=args.actor_gpus,
                           keep_text=args.keep_text, show_progress=not args.quiet,
                           model_kwargs={"device": args.device, "precision": args.precision,
                                         "trust_remote_code": args.trust_remote_code},
                           **common.encode_kwargs(args))
    rate = f" ({summary['rows_per_second']:,.0f} rows/s)" if summary["rows_per_second"] else ""
    common.emit(summary, args.json, f"wrote {summary['rows']} x {summary['dimension']} embeddings in "
                f"{summary['shards']} Parquet shards to {summary['output']} ({summary['skipped_shards']} kept from "
                f"an earlier run) in {summary['seconds']:.1f} s{rate}")
    return 0
