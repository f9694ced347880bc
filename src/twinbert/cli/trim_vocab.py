"""twinbert trim-vocab: keep the tokens of the scripts (and corpus) you need, drop the rest of the table."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("trim-vocab", help="shrink a model's vocabulary to the scripts and texts you use",
                       description="Keep the special tokens, every token written only in the kept scripts "
                                   "(plus digits, punctuation and symbols) and every token of the corpus "
                                   "files; drop the other rows of the embedding table. Texts whose tokens "
                                   "are all kept get identical vectors.")
    common.add_model(p, positional=True)
    p.add_argument("output", help="folder to write the trimmed model to")
    p.add_argument("--keep-script", dest="keep_scripts", default="hangul",
                   help="scripts kept whole, joined by commas: hangul, latin, cjk, hiragana, katakana, "
                        "cyrillic, greek, arabic ... (default: hangul)")
    p.add_argument("--corpus", dest="corpus_files", nargs="+", default=[], metavar="FILE",
                   help="text files (txt / csv / tsv / jsonl) whose tokens are kept too")
    p.add_argument("--column", "-c", default=None, help="column or field holding the text in csv/tsv/jsonl corpus files")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the model in OUTPUT, or write into a folder that holds other files (they are kept)")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..formats.model_folder import check_target, source_folders
    from ..modules.trim import trim_to_folder

    # refused before the load, which may build a runtime cache in the model's folder (trim_to_folder checks again)
    check_target(args.output, overwrite=args.overwrite, model_ok=False, sources=source_folders(args.model))
    encoder = common.load_model(args)
    report = trim_to_folder(encoder, args.output, keep_scripts=args.keep_scripts, corpus_files=args.corpus_files,
                            column=args.column, overwrite=args.overwrite)
    common.emit(report, args.json, f"kept {report['tokens_after']:,} of {report['tokens_before']:,} tokens "
                f"({', '.join(report['scripts'])}; {report['corpus_texts']:,} corpus texts): "
                f"{report['parameters_before'] / 1e6:.1f}M -> {report['parameters_after'] / 1e6:.1f}M parameters, "
                f"saved to {report['output']}")
    return 0
