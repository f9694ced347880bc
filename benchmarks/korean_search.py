#!/usr/bin/env python
"""Korean search benchmarks (issue 24), each part in its own functions.

(passages) korquad (KorQuAD 1.0 dev as passage retrieval, twinbert.data.load_task("korquad", split)):
    nDCG@10 / MRR@10 / Recall@1,10,100 of dense (multilingual-e5-small, its query/passage prompts),
    lexical (BM25 over Kiwi morphemes, twinbert.search.lexical) and hybrid search (twinbert.search.Index,
    mode="hybrid"): with the default fusion, with naive RRF (k 60, equal weights), and with the fusion
    chosen by Index.tune_fusion on the dev queries; on dev and test. Also the analyser choices, made
    on dev only: Kiwi part-of-speech presets, every morpheme, character bigrams; and the tantivy
    comparison behind the choice of bm25s (--tantivy).
(speed) 1,000,000 Korean passages synthesised from the Korean text at hand (see speed_passages):
    Kiwi analysis throughput, lexical index build time and memory, dense index build, hybrid query
    latency (p50 / p90 / p99).

    python benchmarks/korean_search.py --part passages [--cache DIR] [--json out.json]
    python benchmarks/korean_search.py --part speed [--count 1000000]
    python benchmarks/korean_search.py --part documents [--cache DIR] [--chunk-tokens 256 --overlap 32]

(documents) korquad-docs (the 140 articles as plain text, title first; a question's relevant document is
    its article): multilingual-e5-small with each article cut at max_seq_length (none), with the chunker
    and one vector per chunk (chunks), and with late chunking (late), at the same chunk size and overlap;
    an article scores by its best chunk (twinbert.search.documents); dev and test.

Not run by the tests. Needs the lexical extra (bm25s, kiwipiepy), the multilingual extra (e5-small)
and faiss for the dense index of the speed part.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


# --------------------------------------------------------------------------- passages (quality)

def encode_cached(encoder, texts: list[str], role: str, cache: Path | None) -> np.ndarray:
    """The texts encoded with the model's prompt for `role`, kept in `cache` (keyed by model and texts)."""
    from twinbert.search.prompts import role_kwargs

    key = hashlib.sha256(("\n".join([str(encoder.name), role, *texts])).encode()).hexdigest()[:16]
    path = cache / f"{role}-{key}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path)
    vectors = np.asarray(encoder.encode(texts, **role_kwargs(encoder, role)), dtype=np.float32)
    if path is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def _metrics(index, queries, relevant, mode, vectors) -> dict:
    from twinbert.evaluate.retrieval import retrieval_metrics

    hits = index.search(queries, k=100, mode=mode, query_embeddings=vectors if mode != "lexical" else None)
    values = retrieval_metrics([[h["id"] for h in row] for row in hits], relevant)
    return {key: round(values[key], 4) for key in ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100")}


def passages(model: str, cache: Path | None) -> dict:
    """Dense, lexical and hybrid on korquad dev and test; the fusion tuned on dev."""
    import twinbert
    from twinbert.data import load_task
    from twinbert.search import Index
    from twinbert.search.fusion import Fusion

    splits = {s: load_task("korquad", s).retrieval for s in ("dev", "test")}
    corpus_ids = list(splits["dev"].corpus)
    documents = [splits["dev"].corpus[c] for c in corpus_ids]
    encoder = twinbert.load(model)
    corpus_vectors = encode_cached(encoder, documents, "passage", cache)
    start = time.perf_counter()
    index = Index.build(texts=documents, embeddings=corpus_vectors, ids=corpus_ids, lexical=True, model_name=model)
    result = {"model": model, "lexical_build_s": round(time.perf_counter() - start, 2), "splits": {}}
    queries = {}
    for split, data in splits.items():
        qids = list(data.queries)
        texts = [data.queries[q] for q in qids]
        queries[split] = (texts, [set(data.relevant[q]) for q in qids], encode_cached(encoder, texts, "query", cache))
    runs = {"dense": ("dense", None), "lexical": ("lexical", None), "hybrid_default": ("hybrid", None),
            "hybrid_rrf_naive": ("hybrid", Fusion("rrf", 0.5))}
    for name, (mode, fusion) in runs.items():
        index.set_fusion(fusion)
        for split, (texts, relevant, vectors) in queries.items():
            result["splits"].setdefault(split, {})[name] = _metrics(index, texts, relevant, mode, vectors)
    texts, relevant, vectors = queries["dev"]
    report = index.tune_fusion(texts, [sorted(r) for r in relevant], query_embeddings=vectors)
    result["tuned"] = {k: v for k, v in report.items() if k != "tried"}
    for split, (texts, relevant, vectors) in queries.items():
        result["splits"][split]["hybrid_tuned"] = _metrics(index, texts, relevant, "hybrid", vectors)
    return result


def analysers(split: str = "dev") -> dict:
    """nDCG@10 of BM25 with each analyser choice (chosen on dev; test shown for the record)."""
    from twinbert.data import load_task
    from twinbert.evaluate.retrieval import retrieval_metrics
    from twinbert.search.analysers import AnalyserConfig
    from twinbert.search.lexical import LexicalConfig, LexicalIndex

    data = load_task("korquad", split).retrieval
    corpus_ids = list(data.corpus)
    qids = list(data.queries)
    every = ("NNG", "NNP", "NNB", "NR", "NP", "SL", "SH", "SN", "XR", "VV", "VA", "VX", "VCP", "VCN", "MM", "MAG",
             "MAJ", "IC", "JKS", "JKC", "JKG", "JKO", "JKB", "JKV", "JKQ", "JX", "JC", "EP", "EF", "EC", "ETN", "ETM",
             "XPN", "XSN", "XSV", "XSA", "XSM", "SF", "SP", "SS", "SSO", "SSC", "SE", "SO", "SW", "SB", "W_URL",
             "W_EMAIL", "W_HASHTAG", "W_MENTION", "W_SERIAL", "W_EMOJI", "Z_CODA", "Z_SIOT", "USER0")
    choices = {"kiwi nouns": AnalyserConfig("kiwi", "nouns"), "kiwi nouns-verbs": AnalyserConfig("kiwi", "nouns-verbs"),
               "kiwi content": AnalyserConfig("kiwi", "content"), "kiwi every morpheme": AnalyserConfig("kiwi", every),
               "character bigrams": AnalyserConfig("ngrams", n=2), "words": AnalyserConfig("words")}
    out = {}
    for name, config in choices.items():
        index = LexicalIndex.build([data.corpus[c] for c in corpus_ids], LexicalConfig(config))
        hits = index.search([data.queries[q] for q in qids], 10)
        rankings = [[corpus_ids[r] for r, _ in row] for row in hits]
        out[name] = round(retrieval_metrics(rankings, [data.relevant[q] for q in qids])["ndcg@10"], 4)
    return out


def tantivy_compare(split: str = "dev") -> dict:
    """BM25 (k1 1.2, b 0.75) over the same Kiwi terms: bm25s against tantivy (build + query time, nDCG@10)."""
    import tantivy
    from twinbert.data import load_task
    from twinbert.evaluate.retrieval import retrieval_metrics
    from twinbert.search.analysers import Analyser
    from twinbert.search.lexical import LexicalIndex

    data = load_task("korquad", split).retrieval
    corpus_ids, qids = list(data.corpus), list(data.queries)
    docs, queries = [data.corpus[c] for c in corpus_ids], [data.queries[q] for q in qids]
    relevant = [data.relevant[q] for q in qids]
    analyser = Analyser()
    doc_terms, query_terms = analyser(docs), analyser(queries)
    start = time.perf_counter()
    index = LexicalIndex.build(docs)
    hits = index.search(queries, 10)
    ours = retrieval_metrics([[corpus_ids[r] for r, _ in row] for row in hits], relevant)["ndcg@10"]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("terms", tokenizer_name="whitespace")
    builder.add_integer_field("row", stored=True, fast=True)
    schema = builder.build()
    tindex = tantivy.Index(schema)
    writer = tindex.writer(heap_size=100_000_000, num_threads=1)
    for row, terms in enumerate(doc_terms):
        writer.add_document(tantivy.Document(terms=" ".join(terms), row=row))
    writer.commit()
    writer.wait_merging_threads()
    tindex.reload()
    searcher = tindex.searcher()
    rankings = []
    for terms in query_terms:
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(schema, "terms", t))
                                             for t in terms])
        rankings.append([corpus_ids[searcher.doc(a)["row"][0]] for _, a in searcher.search(query, 10).hits])
    theirs = retrieval_metrics(rankings, relevant)["ndcg@10"]
    return {"bm25s": {"ndcg@10": round(ours, 4), "seconds": round(ours_s, 2)},
            "tantivy": {"ndcg@10": round(theirs, 4), "seconds": round(time.perf_counter() - start, 2),
                        "note": "terms analysed beforehand (not in tantivy's time)"}}


# --------------------------------------------------------------------------- speed (1M passages)

def korean_sentences(limit_nsmc: int = 40_000) -> list[str]:
    """Korean sentences at hand: NSMC reviews, KorNLI and KorSTS sentences, KorQuAD paragraphs split at
    sentence ends."""
    import re

    from twinbert.data import load_task

    found: list[str] = []
    for task, split in (("nsmc", "train"), ("nsmc", "test")):
        found += [e.text for e in load_task(task, split).examples[:limit_nsmc]]
    for task, split in (("kornli", "dev"), ("kornli", "test"), ("korsts", "train"), ("korsts", "dev"),
                        ("korsts", "test")):
        for e in load_task(task, split).examples:
            found += [e.sentence1, e.sentence2]
    corpus = load_task("korquad", "dev").retrieval.corpus
    for text in corpus.values():
        found += [s for s in re.split(r"(?<=[.?!])\s+", text) if s]
    return list(dict.fromkeys(t.strip() for t in found if t and t.strip()))


def speed_passages(count: int, seed: int = 0) -> tuple[list[tuple[int, ...]], list[str]]:
    """`count` passages, each 1 to 6 sentences drawn at random (as sentence numbers), and the sentences."""
    sentences = korean_sentences()
    rng = random.Random(seed)
    return [tuple(rng.randrange(len(sentences)) for _ in range(rng.randint(1, 6))) for _ in range(count)], sentences


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def speed(count: int, dimension: int = 384, queries: int = 200) -> dict:
    """Kiwi throughput; lexical build over `count` passages; dense ivf build over synthetic vectors; hybrid
    query latency with KorQuAD questions."""
    from twinbert.data import load_task
    from twinbert.search import Index
    from twinbert.search.analysers import Analyser
    from twinbert.search.lexical import LexicalIndex

    out: dict = {"count": count, "machine": machine()}
    rows, sentences = speed_passages(count)
    sample = [" ".join(sentences[i] for i in row) for row in rows[:2000]]
    for threads in (1, 2):
        start = time.perf_counter()
        Analyser(threads=threads)(sample)
        out[f"kiwi_passages_per_s_{threads}_threads"] = round(len(sample) / (time.perf_counter() - start), 1)
    out["passage_chars_mean"] = round(float(np.mean([len(t) for t in sample])), 1)
    # every sentence analysed once; a passage's terms are its sentences' terms (what Kiwi gives for the
    # joined text up to sentence-boundary effects), so the build below times bm25s on 1M real Korean term lists
    start = time.perf_counter()
    lexical = LexicalIndex.build(sentences, threads=2)
    out["kiwi_sentences"] = len(sentences)
    out["kiwi_sentences_s"] = round(time.perf_counter() - start, 1)
    terms = [lexical.terms[lexical.offsets[i]:lexical.offsets[i + 1]] for i in range(len(sentences))]
    start = time.perf_counter()
    passage_terms = np.concatenate([terms[i] for row in rows for i in row])
    lengths = np.fromiter((sum(len(terms[i]) for i in row) for row in rows), dtype=np.int64, count=len(rows))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    big = LexicalIndex(lexical.config, lexical.vocab, passage_terms.astype(np.int32), offsets)
    out["lexical_build_s"] = round(time.perf_counter() - start, 1)
    out["lexical_terms"] = int(len(passage_terms))
    out["rss_gb_after_lexical"] = round(rss_gb(), 2)
    vectors = np.random.default_rng(0).standard_normal((count, dimension), dtype=np.float32)
    start = time.perf_counter()
    index = Index.build(embeddings=vectors, model_name="synthetic", backend="ivf", nlist=1024, nprobe=16)
    out["dense_ivf_build_s"] = round(time.perf_counter() - start, 1)
    index._lexical = big  # the lexical part built above over the same rows (texts never stored here)
    out["rss_gb_after_dense"] = round(rss_gb(), 2)
    questions = list(load_task("korquad", "test").retrieval.queries.values())[:queries]
    qvec = np.random.default_rng(1).standard_normal((len(questions), dimension), dtype=np.float32)
    times = {"hybrid": [], "lexical": []}
    for i, q in enumerate(questions):
        for mode in times:
            start = time.perf_counter()
            index._search_mode([q], 10, mode, None, False, {}, qvec[i:i + 1] if mode == "hybrid" else None)
            times[mode].append((time.perf_counter() - start) * 1000)
    for mode, values in times.items():
        out[f"{mode}_query_ms"] = {p: round(float(np.percentile(values, int(p[1:]))), 2) for p in ("p50", "p90", "p99")}
    out["machine_after"] = machine()
    return out


# --------------------------------------------------------------------------- documents (long texts)

def chunks_cached(encoder, texts: list[str], chunking: str, chunk_tokens: int, overlap: int,
                  cache: Path | None) -> dict:
    """{"vectors", "document", "spans"} of encoder.encode(texts, chunking=...) with the passage prompt,
    kept in `cache`; chunking "none": one vector per text (document = its row)."""
    from twinbert.search.prompts import role_kwargs

    tag = f"{chunking}-{chunk_tokens}-{overlap}"
    key = hashlib.sha256(("\n".join([str(encoder.name), tag, *texts])).encode()).hexdigest()[:16]
    path = cache / f"chunks-{tag}-{key}.npz" if cache else None
    if path is not None and path.exists():
        return dict(np.load(path))
    prompt = role_kwargs(encoder, "passage")
    if chunking == "none":
        vectors = np.asarray(encoder.encode(texts, **prompt), dtype=np.float32)
        found = {"vectors": vectors, "document": np.arange(len(texts)), "spans": np.zeros((len(texts), 2), np.int64)}
    else:
        result = encoder.encode(texts, chunking=chunking, chunk_tokens=chunk_tokens, overlap=overlap, **prompt)
        found = {"vectors": result.vectors, "document": result.document, "spans": result.spans}
    if path is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, **found)
    return found


def best_chunk_scores(queries: np.ndarray, found: dict, documents: int) -> np.ndarray:
    """[queries, documents]: each document's best chunk's cosine (the vectors are unit length)."""
    scores = queries @ found["vectors"].T
    return np.stack([scores[:, found["document"] == d].max(axis=1) for d in range(documents)], axis=1)


def documents(model: str, cache: Path | None, chunk_tokens: int, overlap: int,
              chunkings: tuple[str, ...] = ("none", "chunks", "late")) -> dict:
    """korquad-docs dev and test, chunking none / chunks / late (the same chunk size and overlap)."""
    import twinbert
    from twinbert.data import load_task
    from twinbert.evaluate.retrieval import retrieval_metrics

    encoder = twinbert.load(model)
    splits = {split: load_task("korquad-docs", split).retrieval for split in ("dev", "test")}
    corpus_ids = list(splits["dev"].corpus)
    texts = [splits["dev"].corpus[i] for i in corpus_ids]
    query_ids = [q for split in splits.values() for q in split.queries]
    asked = {q: split.queries[q] for split in splits.values() for q in split.queries}
    queries = encode_cached(encoder, [asked[q] for q in query_ids], "query", cache)
    row = {q: i for i, q in enumerate(query_ids)}
    out: dict = {"model": model, "chunk_tokens": chunk_tokens, "overlap": overlap, "documents": len(texts)}
    for chunking in chunkings:
        start = time.perf_counter()
        found = chunks_cached(encoder, texts, chunking, chunk_tokens, overlap, cache)
        best = best_chunk_scores(queries, found, len(texts))
        result: dict = {"chunks": int(len(found["vectors"]))}
        for split, data in splits.items():
            rows = best[[row[q] for q in data.queries]]
            order = np.argsort(-rows, axis=1, kind="stable")[:, :100]
            values = retrieval_metrics([[corpus_ids[j] for j in r] for r in order],
                                       [set(data.relevant[q]) for q in data.queries])
            result[split] = {k: round(values[k], 4) for k in ("ndcg@10", "mrr@10", "recall@1", "recall@10")}
        result["seconds"] = round(time.perf_counter() - start, 1)
        out[chunking] = result
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["passages", "speed", "documents"], default="passages")
    parser.add_argument("--chunk-tokens", type=int, default=256, help="documents: tokens per chunk")
    parser.add_argument("--overlap", type=int, default=32, help="documents: tokens shared with the chunk before")
    parser.add_argument("--chunkings", default="none,chunks,late", help="documents: which to measure")
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--cache", type=Path, default=None, help="keep encoded vectors here")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--tantivy", action="store_true", help="also compare with tantivy (pip install tantivy)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out: dict = {"machine": machine(), "command": " ".join(sys.argv)}
    if args.part == "documents":
        out["documents"] = documents(args.model, args.cache, args.chunk_tokens, args.overlap,
                                     tuple(args.chunkings.split(",")))
    elif args.part == "passages":
        out["analysers_dev"] = analysers("dev")
        if args.tantivy:
            out["tantivy_dev"] = tantivy_compare("dev")
        out["passages"] = passages(args.model, args.cache)
    else:
        out["speed"] = speed(args.count)
    out["machine_after"] = machine()
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
