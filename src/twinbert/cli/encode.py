"""twinbert encode: a text file (txt / csv / tsv / jsonl) -> embeddings (.npy / .jsonl), streamed."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("encode", help="encode a file of texts into .npy or .jsonl embeddings",
                       description="Encode every text of a file. Streams: memory stays bounded whatever "
                                   "the number of lines; progress (rows/s, ETA) on stderr.")
    common.add_model(p)
    p.add_argument("--input", "-i", required=True, help="texts: .txt (one per line), .csv/.tsv/.jsonl with --column")
    p.add_argument("--column", "-c", default=None, help="column (csv/tsv header) or field (jsonl) holding the text")
    p.add_argument("--output", "-o", required=True, help="OUT.npy (float32 [rows, dim]) or OUT.jsonl")
    common.add_encoding(p)
    p.add_argument("--chunk-rows", type=common.positive_int, default=8192,
                   help="rows encoded per chunk (bounds memory)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from ..encode_file import check_output, encode_file
    from ..errors import InputError

    # fail before the (slow) model load on paths that cannot work
    check_output(args.output, args.input)
    if not Path(args.input).is_file():
        raise InputError(f"{args.input}: input file not found")
    encoder = common.load_model(args)
    summary = encode_file(encoder, args.input, args.output, column=args.column, chunk_rows=args.chunk_rows,
                          show_progress=not args.quiet, precision=None, **common.encode_kwargs(args))
    common.emit(summary, args.json, f"wrote {summary['rows']} x {summary['dimension']} embeddings to "
                f"{summary['output']} in {summary['seconds']:.1f} s ({summary['rows_per_second']:,.0f} rows/s)")
    return 0
