"""The ivfpq backend: PQ codes in memory, exact re-scoring from the memory-mapped vectors, nprobe tuned for a
recall target, and a build from embedding shards (a distributed encode's folder, .npy files) shard by shard."""
from __future__ import annotations

import json

import numpy as np
import pytest

import twinbert
from twinbert.cli.main import main
from twinbert.errors import InputError
from twinbert.search import Index

pytest.importorskip("faiss")

from search_vectors import clustered, recall  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return clustered(6000), clustered(100, seed=1)


def test_ivfpq_reaches_the_recall_target_with_few_bytes_per_vector(data, tmp_path):
    corpus, queries = data
    index = Index.build(embeddings=corpus, backend="ivfpq", m=16, recall_target=0.95)
    flat = Index.build(embeddings=corpus)
    assert index.tuning["reached"] and index.tuning["knob"] == "nprobe"
    assert recall(index, flat, queries) >= 0.95
    assert index._ann.bytes_per_vector() == 16 + 8  # PQ code + id, against 256 bytes of float32
    params = index.backend_params
    assert params["m"] == 16 and params["nbits"] == 8 and params["nlist"] <= 6000 // 39
    # the re-scored scores are the exact ones
    top = index.search(queries[:5], k=3)
    exact = flat.search(queries[:5], k=3)
    for got, want in zip(top, exact):
        for hit in got:
            assert hit["score"] == pytest.approx(float(corpus[hit["id"]] @ queries[top.index(got)]), abs=1e-5)
        assert got[0]["id"] == want[0]["id"]
    index.save(tmp_path / "ix")
    loaded = Index.load(tmp_path / "ix")
    assert isinstance(loaded._ann.vectors, np.memmap)  # re-scoring reads the originals from disk
    assert loaded.search(queries[:5], k=3) == top
    assert json.loads((tmp_path / "ix" / "meta.json").read_text())["backend"] == "ivfpq"


def test_opq_euclidean_and_search_params(data):
    corpus, queries = data[0][:2000], data[1]
    index = Index.build(embeddings=corpus * 3, metric="euclidean", backend="ivfpq", opq=1, m=8, recall_target=0.9)
    flat = Index.build(embeddings=corpus * 3, metric="euclidean")
    assert recall(index, flat, queries * 3) >= 0.9
    index.set_search_params(nprobe=10_000, rerank=400)  # every cell: only PQ's coarse ranking can miss
    params = index.backend_params
    assert recall(index, flat, queries * 3) >= 0.97 and params["nprobe"] == params["nlist"] and params["rerank"] == 400
    added = index.add(embeddings=clustered(10, seed=5) * 3)
    assert index.search(clustered(10, seed=5)[:1] * 3, k=1)[0][0]["id"] == added[0]


def test_bad_parameters_are_refused_before_any_work(data):
    corpus, _ = data
    with pytest.raises(InputError, match="no manhattan distance"):
        Index.build(embeddings=corpus, backend="ivfpq", metric="manhattan")
    with pytest.raises(InputError, match="m=7 for backend='ivfpq' must divide the dimension 64"):
        Index.build(embeddings=corpus, backend="ivfpq", m=7)
    with pytest.raises(InputError, match="unknown parameter.*M for backend='ivfpq'"):
        Index.build(embeddings=corpus, backend="ivfpq", M=8)


def encoded_folder(tiny_bert, folder, texts_per_shard):
    """An output folder like `twinbert encode --engine ray` writes, made locally (no Ray needed here)."""
    pytest.importorskip("pyarrow")
    from twinbert.distributed import job
    from twinbert.distributed.shards import plan
    from twinbert.formats import shard_manifest as output

    encoder = twinbert.load(str(tiny_bert), device="cpu")
    inputs = folder / "in"
    inputs.mkdir(parents=True)
    for k, texts in enumerate(texts_per_shard):
        (inputs / f"{k}.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    shards = plan(str(inputs / "*.txt"), None)
    manifest = job._manifest(shards, encoder, encoder.options(), None, True)
    out = folder / "out"
    out.mkdir()
    for shard, texts in zip(shards, texts_per_shard):
        ids = np.arange(shard.first_id, shard.first_id + shard.rows)
        manifest["shards"][shard.index]["sha256"] = output.write_shard(out, shard.index, ids, encoder.encode(texts), texts)
    manifest["complete"] = True
    output.write_manifest(out, manifest)
    return out, encoder


def test_build_from_shards_reads_each_shard_twice_at_most(tiny_bert, tmp_path, monkeypatch, capsys):
    from twinbert.search import ivfpq_build

    words = ["the cat", "a dog", "i love paris", "the man ran", "a happy woman", "rubber duck", "good food"]
    texts = [[f"{words[(k * 7 + j) % 7]} {words[(k + j) % 5]} {'very ' * (j % 4)}fun" for j in range(120 + 40 * k)]
             for k in range(3)]
    out, encoder = encoded_folder(tiny_bert, tmp_path, texts)
    reads = []
    real = ivfpq_build.EmbeddingShards.read
    monkeypatch.setattr(ivfpq_build.EmbeddingShards, "read", lambda self, k: reads.append(k) or real(self, k))
    code = main(["index", "build", str(tmp_path / "ix"), "--backend", "ivfpq", "--input", str(out),
                 "--param", "m=8", "--param", "rerank=50", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["count"] == 480 and summary["backend"] == "ivfpq"
    assert sorted(reads) == [0, 0, 1, 1, 2, 2]  # the training sample, then the add: one shard at a time
    index = Index.load(tmp_path / "ix")
    flat_texts = [t for shard in texts for t in shard]
    assert index.ids == list(range(480)) and index.texts == flat_texts
    np.testing.assert_allclose(index.vectors, encoder.encode(flat_texts, normalize=True), atol=1e-6)  # cosine
    code = main(["search", str(tmp_path / "ix"), flat_texts[200], "--model", str(tiny_bert), "-k", "1", "--json"])
    hit = json.loads(capsys.readouterr().out)["results"][0]["hits"][0]
    assert code == 0 and hit["text"] == flat_texts[200] and hit["score"] == pytest.approx(1.0, abs=1e-5)


def test_build_from_npy_files(data, tmp_path):
    from twinbert.search.ivfpq_build import build_ivfpq

    corpus, queries = data
    for k, (a, b) in enumerate([(0, 1000), (1000, 3500), (3500, 6000)]):
        np.save(tmp_path / f"{k}.npy", corpus[a:b])
    index = build_ivfpq([tmp_path / f"{k}.npy" for k in range(3)], tmp_path / "ix", m=16, show_progress=False,
                        model_name="synthetic")
    assert len(index) == 6000 and index.tuning["reached"] and index.model_name == "synthetic"
    assert recall(index, Index.build(embeddings=corpus), queries) >= 0.95
    with pytest.raises(InputError, match="no complete distributed encode here"):
        build_ivfpq(tmp_path, tmp_path / "ix2")


def test_the_tuning_raises_rerank_when_pq_alone_cannot_reach_the_target():
    """Rows of a few wide clusters: PQ cannot order the neighbours inside a cluster, so 10 candidates miss
    the target at any nprobe. The tuning finds nprobe with the most candidates re-scored, then the fewest
    candidates (from the 10 given, doubling, then bisecting) that keep the target at that nprobe."""
    hard = clustered(3000, dim=32, clusters=3, seed=4) + 0.0
    index = Index.build(embeddings=hard, backend="ivfpq", m=4, rerank=10, recall_target=0.95)
    report = index.tuning
    assert report["reached"] and report["rerank"] > 10
    assert index.backend_params["rerank"] == report["rerank"] == report["then"]["value"]
    assert index.backend_params["nprobe"] == report["value"]
    climb = report["then"]
    assert climb["knob"] == "rerank" and climb["reached"] and climb["trials"][0][0] == 10
    aim = report["aim"]
    # every smaller value tried missed the aim; the chosen one reached it
    assert [v for v, _, low in climb["trials"] if low >= aim and v < climb["value"]] == []
    assert dict((v, low) for v, _, low in climb["trials"])[climb["value"]] >= aim
    assert recall(index, Index.build(embeddings=hard), clustered(50, dim=32, clusters=3, seed=5)) >= 0.9
