"""Documents in an index: stored as chunks, searched as documents (best chunk, its passage and span),
saved and loaded, grown by add."""
from __future__ import annotations

import json

import numpy as np
import pytest

import twinbert
from twinbert.errors import InputError
from twinbert.search import Index

DOCUMENTS = {
    "pets": "the cat sat on the mat. the dog ran in the park. " * 3 + "a duck is happy!",
    "music": "i love music. a man and a woman play guitar? " * 4,
    "food": "the food is good. it is very bad. " * 2 + "the table is sad.",
    "paris": "i love paris. soccer is fun. " * 5,
}


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(tiny_bert, device="cpu", backend="torch")


@pytest.fixture(scope="module")
def built(tiny):
    return Index.build(texts=list(DOCUMENTS.values()), ids=list(DOCUMENTS), encoder=tiny, chunking="chunks",
                       chunk_tokens=12, overlap=3)


def brute_force(tiny, query: str, chunking: str = "chunks") -> list[tuple[str, float, list[int]]]:
    """(document id, best chunk score, its span) of every document, best first, computed apart from the index."""
    texts = list(DOCUMENTS.values())
    chunks = tiny.encode(texts, chunking=chunking, chunk_tokens=12, overlap=3)
    vectors = chunks.vectors / np.linalg.norm(chunks.vectors, axis=1, keepdims=True)
    q = tiny.encode(query)
    scores = vectors @ (q / np.linalg.norm(q))
    best = []
    for d, name in enumerate(DOCUMENTS):
        rows = np.flatnonzero(chunks.document == d)
        top = rows[np.argmax(scores[rows])]
        best.append((name, float(scores[top]), chunks.spans[top].tolist()))
    return sorted(best, key=lambda b: -b[1])


def test_search_returns_documents_scored_by_their_best_chunk(built, tiny):
    hits = built.search("the dog ran in the park", k=3)[0]
    expected = brute_force(tiny, "the dog ran in the park")
    assert [h["id"] for h in hits] == [e[0] for e in expected[:3]]
    assert len({h["id"] for h in hits}) == 3
    for hit, (name, score, span) in zip(hits, expected):
        assert hit["score"] == pytest.approx(score, abs=1e-5)
        assert hit["span"] == span and hit["passage"] == DOCUMENTS[name][span[0]:span[1]]
        assert hit["text"] == DOCUMENTS[name] and hit["rank"] == hits.index(hit) + 1
    assert len(built) > len(DOCUMENTS)  # rows are chunks
    assert len(built.search("cat", k=10)[0]) == len(DOCUMENTS)  # never more hits than documents


def test_documents_round_trip_through_save_and_load(built, tmp_path):
    built.save(tmp_path / "docs")
    meta = json.loads((tmp_path / "docs" / "meta.json").read_text())
    assert meta["documents"]["chunking"] == {"method": "chunks", "chunk_tokens": 12, "overlap": 3}
    loaded = Index.load(tmp_path / "docs")
    query = built.vectors[5:7]
    assert loaded.search(query, k=4) == built.search(query, k=4)


def test_add_cuts_new_documents_alike_and_late_chunking_builds_too(tiny, tmp_path):
    index = Index.build(texts=list(DOCUMENTS.values())[:2], ids=list(DOCUMENTS)[:2], encoder=tiny,
                        chunking="late", chunk_tokens=12, overlap=3)
    assert index.add(list(DOCUMENTS.values())[2:], ids=list(DOCUMENTS)[2:]) == list(DOCUMENTS)[2:]
    whole = Index.build(texts=list(DOCUMENTS.values()), ids=list(DOCUMENTS), encoder=tiny, chunking="late",
                        chunk_tokens=12, overlap=3)
    np.testing.assert_allclose(index.vectors, whole.vectors, atol=1e-5)
    hits = index.search("a duck is happy", k=2)[0]
    expected = brute_force(tiny, "a duck is happy", "late")
    assert [(h["id"], h["span"]) for h in hits] == [(e[0], e[2]) for e in expected[:2]]
    index.save(tmp_path / "late")
    assert Index.load(tmp_path / "late").search("a duck is happy", k=2, encoder=tiny)[0] == hits
    with pytest.raises(InputError, match="duplicate id 'pets'"):
        index.add(["the cat."], ids=["pets"])


def test_a_damaged_chunk_table_is_named(built, tmp_path):
    built.save(tmp_path / "bad")
    chunks = np.load(tmp_path / "bad" / "chunks.npy")
    chunks[0, 2] = 10_000  # past its document's end
    np.save(tmp_path / "bad" / "chunks.npy", chunks)
    meta = json.loads((tmp_path / "bad" / "meta.json").read_text())
    meta.pop("checksums", None)  # the content check, not the checksum, is under test here
    (tmp_path / "bad" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"chunks.npy row 0"):
        Index.load(tmp_path / "bad")


def test_chunking_needs_texts_and_an_encoder(tiny):
    with pytest.raises(InputError, match="give the texts and an encoder instead of embeddings"):
        Index.build(embeddings=np.ones((2, 32), np.float32), chunking="chunks")
    with pytest.raises(InputError, match="encoder="):
        Index.build(texts=["a"], chunking="late")
    with pytest.raises(InputError, match="give chunking too"):
        Index.build(texts=["a"], encoder=tiny, chunk_tokens=8)


def test_cli_builds_searches_and_encodes_documents(tiny_bert, tmp_path):
    from cli_runner import cli_env, run_cli_batch

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in DOCUMENTS.items()), encoding="utf-8")
    index, out = str(tmp_path / "idx"), str(tmp_path / "chunks.jsonl")
    model = ["--model", str(tiny_bert)]
    results = run_cli_batch({
        "build": ["index", "build", index, "-i", str(docs), "-c", "text", "--ids-column", "id", *model,
                  "--runtime", "torch", "--chunking", "late", "--chunk-tokens", "12", "--overlap", "3", "--json"],
        "search": ["search", index, "a duck is happy", "-k", "2", "--backend", "torch", "--json"],
        "encode": ["encode", "-i", str(docs), "-c", "text", "-o", out, *model, "--backend", "torch",
                   "--chunking", "chunks", "--chunk-tokens", "12", "--overlap", "3", "--json"],
        "bad-overlap": ["encode", "-i", str(docs), "-c", "text", "-o", out + "2.jsonl", *model, "--backend", "torch",
                        "--chunking", "chunks", "--chunk-tokens", "12", "--overlap", "7"],
        "npy": ["encode", "-i", str(docs), "-c", "text", "-o", str(tmp_path / "x.npy"), *model, "--chunking", "late"],
    }, tmp_path, cli_env(tmp_path / "hf"))
    assert results["build"]["rc"] == 0, results["build"]["stderr"][-2000:]
    hits = json.loads(results["search"]["stdout"])["results"][0]["hits"]
    assert len(hits) == 2 and len({h["id"] for h in hits}) == 2  # one hit per document
    assert all(DOCUMENTS[h["id"]][h["span"][0]:h["span"][1]] == h["passage"] for h in hits)
    assert results["encode"]["rc"] == 0, results["encode"]["stderr"][-2000:]
    lines = [json.loads(line) for line in open(out, encoding="utf-8")]
    texts = list(DOCUMENTS.values())
    assert {line["document"] for line in lines} == set(range(len(texts)))
    assert all(texts[line["document"]][line["start"]:line["end"]] == line["text"] for line in lines)
    for name, message in (("bad-overlap", "overlap=7"), ("npy", "writes .jsonl")):
        assert results[name]["rc"] == 2 and message in results[name]["stderr"], results[name]["stderr"][-500:]
        assert len(results[name]["stderr"].strip().splitlines()) == 1


def _ndcg_of_hits(hits: list[dict], relevant, k: int = 10) -> float:
    gains = [1.0 / np.log2(rank + 2) for rank, hit in enumerate(hits[:k]) if hit["id"] == relevant]
    return sum(gains)  # one relevant document: the ideal DCG is 1


def test_tune_fusion_on_documents_scores_documents_as_search_ranks_them(tiny):
    """tune_fusion on a document index measures documents (best chunk each, counted once), as search returns
    them: its dense and lexical figures equal nDCG@10 computed by hand from search's own hits. Before, the
    document ids given as relevant were read as chunk row ids (the default ids of both start at 0)."""
    index = Index.build(texts=list(DOCUMENTS.values()), encoder=tiny, chunking="chunks", chunk_tokens=12, overlap=3,
                        lexical=True)
    queries = ["a duck is happy", "guitar music", "the table is sad", "soccer in paris", "the dog in the park"]
    relevant = [0, 1, 2, 3, 0]
    report = index.tune_fusion(queries, [[r] for r in relevant])
    for mode in ("dense", "lexical"):
        hits = index.search(queries, k=10, mode=mode)
        by_hand = np.mean([_ndcg_of_hits(h, r) for h, r in zip(hits, relevant)])
        assert report[f"{mode}_ndcg@10"] == pytest.approx(by_hand, abs=1e-9), mode
    hits = index.search(queries, k=10, mode="hybrid")
    assert report["ndcg@10"] == pytest.approx(np.mean([_ndcg_of_hits(h, r) for h, r in zip(hits, relevant)]), abs=1e-9)
