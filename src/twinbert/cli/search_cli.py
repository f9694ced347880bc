"""twinbert index build|add|tune, twinbert search, twinbert mine: thin commands over twinbert.search."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    about = "build, extend or tune a persistent search index (a folder)"
    p = sub.add_parser("index", help=about, description=about)
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    purposes = {"build": "build a new index from texts (encoded with --model) or precomputed vectors "
                         "(--embeddings); refuses to replace an existing index unless --overwrite",
                "add": "add texts (encoded with the index's model) or precomputed vectors (--embeddings) "
                       "to an existing index, which is updated in place"}
    for verb, purpose in purposes.items():
        v = verbs.add_parser(verb, help=purpose.split(";")[0], description=purpose)
        v.add_argument("index", help="index folder" + (" to create" if verb == "build" else " to extend"))
        v.add_argument("--input", "-i", default=None,
                       help="texts: .txt / .csv / .tsv / .jsonl (with --column); build --backend ivfpq or milvus: "
                            "also the output folder of `twinbert encode --engine ray` (read shard by shard)")
        v.add_argument("--column", "-c", default=None, help="column / field holding the text (.csv/.tsv/.jsonl)")
        v.add_argument("--ids-column", default=None, help="column/field holding unique ids (default: row numbers)")
        v.add_argument("--embeddings", default=None, help="a .npy of precomputed vectors (with --input for texts)")
        if verb == "build":
            common.add_model(v, runtime_flag="--runtime")  # --backend here is the index's kind
            v.add_argument("--overwrite", action="store_true",
                           help="replace an index already in the folder, or write into a folder of other "
                                "files (they are kept)")
            v.add_argument("--metric", default="cosine", choices=["cosine", "dot", "euclidean", "manhattan"],
                           help="similarity the index ranks by (default cosine)")
            v.add_argument("--backend", default="flat",
                           choices=["flat", "hnsw", "ivf", "ivfpq", "int8", "binary", "milvus"],
                           help="flat = exact; hnsw / ivf = approximate; ivfpq = compressed (PQ codes in memory, "
                                "re-scored from the memory-mapped vectors); int8 / binary = every row's int8 or "
                                "sign-bit code scanned, the best re-scored from the memory-mapped vectors (4x / "
                                "~27x less memory); all but flat and milvus need faiss: pip install 'twinbert[faiss]'; "
                                "milvus = the rows in a Milvus collection (--uri), the folder only names it: "
                                "pip install 'twinbert[milvus]'")
            v.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                           help="backend parameter, e.g. M=48, ef_construction=200, nlist=1024; a fixed "
                                "ef_search=... (hnsw), nprobe=... (ivf, ivfpq) or rerank=... (int8, binary) "
                                "replaces the tuning")
            v.add_argument("--recall-target", type=float, default=0.95, metavar="R",
                           help="approximate backends: tune ef_search / nprobe / rerank to the smallest value "
                                "whose recall@10 against the exact search reaches R (default 0.95)")
            _add_milvus(v)
            common.add_chunking(v)  # the texts are documents: stored as chunks, searched as documents
            v.add_argument("--lexical", action="store_true",
                           help="also index the texts for lexical (BM25) and hybrid search (search --mode); "
                                "needs pip install 'twinbert[lexical]'")
            v.add_argument("--analyser", default="auto", choices=["auto", "kiwi", "words", "ngrams"],
                           help="--lexical: how texts become terms: auto (default) = Kiwi morphemes for Korean "
                                "texts, Unicode words otherwise; ngrams = character bigrams")
        else:
            _add_index_model(v, "add")
        common.add_prompt(v, "the index's prompt; for a new index the model's passage prompt when it "
                             "declares query and passage prompts, else its default prompt")
        common.add_json(v)
        v.set_defaults(run=run_index)

    about = ("choose ef_search (hnsw) / nprobe (ivf) of an approximate index for a recall target, "
             "measured against the exact search; the index is updated in place")
    t = verbs.add_parser("tune", help=about.split(";")[0], description=about)
    t.add_argument("index", help="index folder")
    t.add_argument("--recall", type=float, default=0.95, help="recall@k target (default 0.95)")
    t.add_argument("-k", "--top-k", type=common.positive_int, default=10, help="k of recall@k (default 10)")
    t.add_argument("--queries", default=None, metavar="FILE",
                   help="query texts like the ones the index will serve (.txt/.csv/.tsv/.jsonl, with "
                        "--column); default: 200 stored rows, each with its own row left out, aiming at "
                        "half the misses the target allows")
    t.add_argument("--column", "-c", default=None, help="column / field of the queries (.csv/.tsv/.jsonl)")
    _add_index_model(t, "tune")
    common.add_prompt(t, _QUERY_PROMPT)
    common.add_json(t)
    t.set_defaults(run=run_tune)

    about = "query an index: the k best rows for each query text"
    s = sub.add_parser("search", help=about, description=about)
    s.add_argument("index", help="index folder")
    s.add_argument("queries", nargs="+", help="one or more query texts")
    s.add_argument("-k", "--top-k", type=common.positive_int, default=10, help="hits per query (default 10)")
    s.add_argument("--mode", default="dense", choices=["dense", "lexical", "hybrid"],
                   help="dense (the vectors, default), lexical (BM25 over the texts, no model loaded) or hybrid "
                        "(both fused with the index's fusion); lexical and hybrid need an index built with "
                        "--lexical")
    _add_index_model(s, "search")
    common.add_prompt(s, _QUERY_PROMPT)
    common.add_json(s)
    s.set_defaults(run=run_search)

    about = "paraphrase mining: the most similar pairs among the texts of a file (empty texts are skipped)"
    m = sub.add_parser("mine", help=about, description=about)
    m.add_argument("input", help="texts: .txt / .csv / .tsv / .jsonl (with --column)")
    m.add_argument("--column", "-c", default=None, help="column / field holding the text (.csv/.tsv/.jsonl)")
    m.add_argument("--top", type=common.positive_int, default=100, help="number of pairs to report")
    m.add_argument("--top-k", type=common.positive_int, default=100, help="candidate neighbours per sentence")
    m.add_argument("--metric", default="cosine", choices=["cosine", "dot", "euclidean", "manhattan"],
                   help="similarity the pairs are ranked by (default cosine)")
    common.add_model(m)
    common.add_encoding(m)
    common.add_json(m)
    m.set_defaults(run=run_mine)


_QUERY_PROMPT = "the model's query prompt when it declares query and passage prompts, else its default prompt"


def _add_milvus(parser) -> None:
    """--backend milvus: where the collection is and how the engine indexes it (twinbert.search.milvus_engine's
    MilvusConfig; its other fields and the index type's parameters go through --param)."""
    from dataclasses import fields

    from ..search.milvus_engine import INDEX_TYPES, MilvusConfig

    default = {f.name: f.default for f in fields(MilvusConfig)}
    parser.add_argument("--uri", default=None, help="--backend milvus: a Milvus server (http://host:19530) or a local "
                                                    "milvus-lite file (name.db); credentials from $MILVUS_TOKEN")
    parser.add_argument("--collection", default=default["collection"],
                        help=f"--backend milvus: the collection (default {default['collection']}); a build into an "
                             "existing one of the same model inserts only the ids it lacks (a killed build resumes)")
    parser.add_argument("--index-type", default=default["index_type"], choices=list(INDEX_TYPES),
                        help=f"--backend milvus: the engine's index ({', '.join(f'{k} = {v}' for k, v in INDEX_TYPES.items())}; "
                             f"default {default['index_type']}); parameters with --param (M, ef_construction, "
                             "ef_search, nlist, nprobe, m, nbits, batch_rows, timeout, consistency)")
    parser.add_argument("--engine-analyser", default=None, metavar="JSON",
                        help="--backend milvus --lexical: the engine's analyzer_params (e.g. lindera with ko-dic on "
                             "Milvus 2.6+), raw texts sent; default: twinbert's analyser, terms joined by spaces")
    parser.add_argument("--force", action="store_true",
                        help="--backend milvus: insert into a collection built by another model")


def _milvus_settings(args) -> dict:
    """Index.build's Milvus keyword arguments from the flags."""
    import json

    from ..errors import InputError

    settings = {"uri": args.uri, "collection": args.collection, "index_type": args.index_type, "force": args.force,
                "show_progress": not args.json}
    if args.engine_analyser is not None:
        try:
            settings["engine_analyser"] = json.loads(args.engine_analyser)
        except ValueError as exc:
            raise InputError(f"--engine-analyser {args.engine_analyser!r}: not JSON ({exc})") from exc
    return {k: v for k, v in settings.items() if v is not None}


def _add_index_model(parser, verb: str) -> None:
    """--model (default: the model the index was built with) and --force."""
    common.add_model(parser)
    parser.set_defaults(model=None)
    for action in parser._actions:
        if action.dest == "model":
            action.help = "model folder or name (default: the model the index was built with)"
    parser.add_argument("--force", action="store_true",
                        help=f"{verb} even if the model is not the index's (other weights, settings or name)")


def _prompt(args) -> dict:
    return {"prompt_name": args.prompt_name, "prompt": args.prompt}


def _params(items: list[str]) -> dict:
    from ..errors import InputError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--param {item!r}: expected KEY=VALUE")
        if key in params:  # the later one would silently win
            raise InputError(f"--param {key} given twice ({key}={params[key]} and {item}); give it once")
        params[key] = int(value) if value.lstrip("-").isdigit() else value
    return params


def _rows(args):
    from ..errors import InputError
    from ..formats.texts import read_texts

    if args.input is None and args.embeddings is None:
        raise InputError("give --input FILE (texts) and/or --embeddings FILE.npy")
    texts = list(read_texts(args.input, args.column)) if args.input else None
    if texts == []:
        raise InputError(f"{args.input}: no texts to {'index' if args.verb == 'build' else 'add'}")
    ids = list(read_texts(args.input, args.ids_column)) if args.input and args.ids_column else None
    return texts, ids


def run_index(args) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..formats.index_folder import check_save_path
    from ..search import Index

    if args.verb == "build":  # before any work: the folder must be free, or --overwrite given
        check_save_path(args.index, args.overwrite, sources=[args.model])
        if args.backend != "milvus" and args.uri is not None:
            raise InputError(f"--uri names a Milvus server, but --backend is {args.backend}; add --backend milvus")
    if args.verb == "build" and args.backend == "ivfpq" and args.input and Path(args.input).is_dir():
        return _build_from_shards(args)
    if args.verb == "build" and args.backend == "milvus" and args.input and Path(args.input).is_dir():
        return _milvus_from_shards(args)
    texts, ids = _rows(args)
    if args.verb == "build":
        encoder = common.load_model(args) if args.embeddings is None else None
        index = Index.build(texts=texts, embeddings=args.embeddings, ids=ids, encoder=encoder, metric=args.metric,
                            backend=args.backend, model_name=args.model if encoder is None else None,
                            recall_target=args.recall_target, **_prompt(args), **_params(args.param),
                            lexical=_lexical(args), **(_milvus_settings(args) if args.backend == "milvus" else {}),
                            **{k: v for k, v in common.chunking_kwargs(args).items() if v is not None})
    else:
        if not Path(args.index).is_dir():
            raise InputError(f"{args.index}: no index there; create one with `twinbert index build`")
        index = Index.load(args.index)
        encoder = None
        if args.embeddings is None:
            encoder = common.load_model(args, args.model or index.model_name)
        if not index.add(texts=texts, embeddings=args.embeddings, ids=ids, encoder=encoder, force=args.force,
                         **_prompt(args)):
            raise InputError(f"{args.embeddings}: no embeddings to add")
    index.save(args.index, overwrite=args.verb == "build" and args.overwrite)
    summary = {"index": str(args.index), "verb": args.verb, "count": len(index), "dimension": index.dimension,
               "metric": index.metric, "backend": index.backend, "model": index.model_name,
               "backend_params": index.backend_params, "tuning": index.tuning,
               "lexical": None if index.lexical is None else index.lexical.record()}
    common.emit(summary, args.json, f"{args.verb}: {args.index} now holds {len(index)} vectors "
                f"({index.dimension}-dim, {index.metric}, {index.backend}){_tuned(index.tuning)}"
                + (" and their lexical part" if index.lexical is not None else ""))
    return 0


def _lexical(args):
    if not args.lexical:
        return False
    from ..search.analysers import AnalyserConfig
    from ..search.lexical import LexicalConfig

    return LexicalConfig(AnalyserConfig(args.analyser))


def _build_from_shards(args) -> int:
    from ..search.ivfpq_build import build_ivfpq

    index = build_ivfpq(args.input, args.index, metric=args.metric, recall_target=args.recall_target,
                        overwrite=args.overwrite, **_params(args.param))
    summary = {"index": str(args.index), "verb": "build", "count": len(index), "dimension": index.dimension,
               "metric": index.metric, "backend": index.backend, "model": index.model_name,
               "backend_params": index.backend_params, "tuning": index.tuning}
    common.emit(summary, args.json, f"build: {args.index} now holds {len(index)} vectors ({index.dimension}-dim, "
                f"{index.metric}, ivfpq){_tuned(index.tuning)}")
    return 0


def _milvus_from_shards(args) -> int:
    from ..search.milvus_ingest import build_from_shards

    index = build_from_shards(args.input, args.index, metric=args.metric, lexical=_lexical(args),
                              overwrite=args.overwrite, **_milvus_settings(args), **_params(args.param))
    summary = {"index": str(args.index), "verb": "build", "count": len(index), "dimension": index.dimension,
               "metric": index.metric, "backend": index.backend, "model": index.model_name,
               "backend_params": index.backend_params,
               "lexical": None if index.lexical is None else index.lexical.record()}
    common.emit(summary, args.json, f"build: {args.index} names collection {index.collection!r} at {index.uri}, which "
                f"now holds {summary['count']} vectors ({index.dimension}-dim, {index.metric}, milvus)")
    return 0


def _tuned(report) -> str:
    if not report:
        return ""
    if report.get("skipped"):  # an index of at most k rows: searched exhaustively (twinbert.search.tuning)
        return f"; {report['skipped']}"
    return (f"; {report['knob']}={report['value']} gives recall@{report['k']} {report['recall']:.3f} "
            f"(target {report['target']}{'' if report['reached'] else ', NOT reached'})")


def run_tune(args) -> int:
    from ..errors import InputError
    from ..formats.texts import read_texts
    from ..search import Index

    index = Index.load(args.index)
    queries = encoder = None
    if args.queries:
        queries = list(read_texts(args.queries, args.column))
        if not queries:
            raise InputError(f"{args.queries}: no texts to tune with")
        encoder = common.load_model(args, args.model or index.model_name)
    report = index.tune(args.recall, k=args.top_k, queries=queries, encoder=encoder, force=args.force,
                        **_prompt(args))
    index.save(args.index)
    table = common.table([[v, f"{r:.4f}", f"{low:.4f}", "<-" if v == report["value"] else ""]
                          for v, r, low in sorted(report["trials"])],
                         [report["knob"], f"recall@{report['k']}", "lower bound", "kept"])
    common.emit({"index": str(args.index), **report}, args.json,
                f"{table}\ntune: {args.index}{_tuned(report)}" + ("" if report.get("skipped") else
                f", measured on {report['queries']} {report['queries_from']}"))
    return 0


def run_search(args) -> int:
    from ..search import Index

    index = Index.load(args.index)
    encoder = None if args.mode == "lexical" else common.load_model(args, args.model or index.model_name)
    hits = index.search(args.queries, k=args.top_k, encoder=encoder, force=args.force, mode=args.mode,
                        **_prompt(args))
    result = {"index": str(args.index), "model": index.model_name, "mode": args.mode,
              "results": [{"query": q, "hits": h} for q, h in zip(args.queries, hits)]}
    lines = []
    for q, h in zip(args.queries, hits):
        lines.append(f"query: {q}")
        lines.append(common.table([[hit["rank"], f"{hit['score']:.4f}", hit["id"], (hit.get("passage") or hit["text"] or "")[:70]]
                                   for hit in h], ["rank", "score", "id", "text"]))
    common.emit(result, args.json, "\n".join(lines))
    return 0


def run_mine(args) -> int:
    from ..errors import InputError
    from ..formats.texts import read_texts
    from ..search import paraphrase_mining

    texts = list(read_texts(args.input, args.column))
    if not texts:
        raise InputError(f"{args.input}: no texts to mine")
    encoder = common.load_model(args)
    pairs = paraphrase_mining(texts, top_k=args.top_k, encoder=encoder, metric=args.metric, max_pairs=args.top,
                              encode_kwargs={"show_progress": len(texts) >= 2000, **common.encode_kwargs(args)})
    triples = [[round(float(s), 6), int(i), int(j)] for s, i, j in pairs]
    text = common.table([[f"{s:.4f}", i, j, texts[i][:45], texts[j][:45]] for s, i, j in triples],
                        ["score", "i", "j", "text i", "text j"])
    if pairs.skipped_empty:
        text += f"\nskipped {pairs.skipped_empty} empty text(s): they are not paired"
    common.emit({"pairs": triples, "skipped_empty": pairs.skipped_empty}, args.json, text)
    return 0
