"""The Index on Milvus (twinbert.search.milvus), run on milvus-lite: embedded (a .db folder) and as a server
process on 127.0.0.1 that a test starts, kills during an insert and starts again. Results are compared with
the local Index over the same rows: dense exact search must give the flat index's top-k and scores, the
engine's BM25 the local lexical ranking."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import twinbert
from twinbert.cli.main import main
from twinbert.errors import InputError, OutputError
from twinbert.search import Index
from twinbert.search.fusion import Fusion

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")
pytest.importorskip("bm25s")

from tests.search.test_index import FakeEncoder  # noqa: E402  (bag of words over cat, dog, car, tree)

WORDS = ["cat", "dog", "car", "tree", "apple", "river", "stone", "cloud", "music", "paper"]
KOREAN = ["경찰이 시위대를 막았다", "시위를 하는 사람들", "서울의 날씨가 맑다", "사과와 바나나를 먹었다",
          "경찰은 서울에서 시위를 막았다", "비가 오는 서울", "바나나 우유", "사람들이 음악을 듣는다"]


def corpus(n=120, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, 4)) for _ in range(n - len(KOREAN))] + KOREAN
    return texts, rng.standard_normal((n, dim)).astype(np.float32)


def both(tmp_path, texts, vectors, metric="cosine", **milvus):
    """The same rows in a local flat index and a Milvus FLAT one (embedded milvus-lite)."""
    ids = [f"doc-{i}" for i in range(len(texts))]
    local = Index.build(texts=texts, embeddings=vectors, ids=ids, model_name="m", metric=metric, lexical=True)
    remote = Index.build(texts=texts, embeddings=vectors, ids=ids, model_name="m", metric=metric, lexical=True,
                         backend="milvus", uri=str(tmp_path / "m.db"), index_type="flat", **milvus)
    return local, remote


def ranked(hits):
    return [[h["id"] for h in row] for row in hits]


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_dense_exact_search_agrees_with_the_flat_index(tmp_path, metric):
    texts, vectors = corpus()
    local, remote = both(tmp_path, texts, vectors, metric)
    queries = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    want, got = local.search(queries, k=10), remote.search(queries, k=10)
    assert ranked(got) == ranked(want)
    np.testing.assert_allclose([h["score"] for row in got for h in row], [h["score"] for row in want for h in row],
                               rtol=1e-4, atol=1e-4)  # one sign convention: euclidean is minus the distance
    assert got[0][0]["text"] == want[0][0]["text"] and [h["rank"] for h in got[0]] == list(range(1, 11))
    assert len(remote) == len(local) and remote.backend == "milvus"


def test_lexical_search_matches_the_local_bm25(tmp_path):
    texts, vectors = corpus()
    local, remote = both(tmp_path, texts, vectors)
    for query in ["경찰 시위", "서울 바나나", "cat river", "music paper stone"]:
        want, got = local.search(query, k=5, mode="lexical")[0], remote.search(query, k=5, mode="lexical")[0]
        assert got and all(h["score"] > 0 for h in got)  # milvus-lite reports BM25 negated: turned positive
        assert [h["score"] for h in got] == sorted((h["score"] for h in got), reverse=True)
        assert got[0]["id"] == want[0]["id"] or got[0]["score"] == pytest.approx(got[1]["score"])
        assert len(got) == len(want) and len({h["id"] for h in got} & {h["id"] for h in want}) >= min(4, len(want))
    # Korean through twinbert's analyser: particles gone, so "시위가" finds the rows with "시위를"
    assert ranked(remote.search("시위가", k=3, mode="lexical"))[0] == ["doc-113", "doc-116"] or \
        ranked(remote.search("시위가", k=3, mode="lexical"))[0] == ["doc-116", "doc-113"]


def test_hybrid_search_and_tune_fusion_like_the_local_index(tmp_path):
    texts, vectors = corpus()
    local, remote = both(tmp_path, texts, vectors)
    queries = ["경찰 시위", "cat river", "서울 날씨", "music stone"]
    embedded = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)
    relevant = [["doc-112", "doc-116"], [h["id"] for h in local.search("cat river", k=2, mode="lexical")[0]],
                ["doc-114"], ["doc-3"]]
    want = local.tune_fusion(queries, relevant, query_embeddings=embedded, depth=30)
    got = remote.tune_fusion(queries, relevant, query_embeddings=embedded, depth=30)
    assert got["queries"] == 4 and got["ndcg@10"] >= max(got["dense_ndcg@10"], got["lexical_ndcg@10"])
    assert got["dense_ndcg@10"] == pytest.approx(want["dense_ndcg@10"])
    assert got["lexical_ndcg@10"] == pytest.approx(want["lexical_ndcg@10"], abs=0.05)
    assert remote.fusion is not None
    for fusion in (Fusion("convex", 0.5), Fusion("rrf", 0.5)):  # the same fusion on both sides
        local.set_fusion(fusion)
        remote.set_fusion(fusion)
        hits_local = local.search(queries, k=5, mode="hybrid", query_embeddings=embedded)
        hits_remote = remote.search(queries, k=5, mode="hybrid", query_embeddings=embedded)
        overlap = [len(set(a) & set(b)) for a, b in zip(ranked(hits_local), ranked(hits_remote))]
        assert sum(overlap) >= 0.8 * 20, (fusion, ranked(hits_local), ranked(hits_remote))
    with pytest.raises(InputError, match="'nobody', which is not in the index"):
        remote.tune_fusion(queries[:1], [["nobody"]], query_embeddings=embedded[:1])


def test_text_queries_save_load_add_and_the_model_check(tmp_path, tiny_bert):
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    texts, _ = corpus(40)
    uri = str(tmp_path / "m.db")
    index = Index.build(texts=texts, ids=list(range(40)), encoder=encoder, backend="milvus", uri=uri, lexical=True,
                        index_type="hnsw", M=8, ef_construction=40)
    local = Index.build(texts=texts, ids=list(range(40)), encoder=encoder)
    assert ranked(index.search(["cat dog", "경찰"], k=3)) == ranked(local.search(["cat dog", "경찰"], k=3))
    index.save(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert meta["backend"] == "milvus" and meta["count"] == 40 and meta["files"] == ["meta.json"]
    assert meta["backend_params"]["uri"] == uri and meta["backend_params"]["collection"] == "twinbert"
    assert meta["model"]["fingerprint"] and meta["lexical"]["library"] == "milvus"
    loaded = Index.load(tmp_path / "ix")
    assert ranked(loaded.search(["cat dog"], k=3, encoder=encoder)) == ranked(index.search(["cat dog"], k=3))
    assert loaded.add(texts=["zebra xylophone"], encoder=encoder) == [40] and len(loaded) == 41
    assert loaded.search("zebra", k=1, mode="lexical")[0][0]["id"] == 40
    with pytest.raises(InputError, match="id 3 is already in the index"):
        loaded.add(texts=["again"], ids=[3], encoder=encoder)
    other = twinbert.load(str(_other_bert(tmp_path)), device="cpu")
    with pytest.raises(InputError, match="another model|other weights"):
        loaded.search("cat", encoder=other)
    assert loaded.search("cat", encoder=other, force=True)[0]


def _other_bert(tmp_path: Path) -> Path:
    from tests.conftest import build_tiny_bert

    return build_tiny_bert(tmp_path / "other-bert", seed=1)


class Weighted(FakeEncoder):
    """A FakeEncoder whose weights are named by ``weights`` (its fingerprint)."""

    def __init__(self, name, weights):
        super().__init__(name)
        self.weights = weights

    def fingerprint(self):
        return f"blake2b:{self.weights}"


def test_another_models_collection_is_refused_unless_forced(tmp_path):
    uri = str(tmp_path / "m.db")
    texts = ["cat", "dog", "car", "tree"]
    Index.build(texts=texts, encoder=Weighted("model-a", "aaaa"), backend="milvus", uri=uri, index_type="flat")
    with pytest.raises(InputError, match="another model") as refused:
        Index.build(texts=texts + ["cat dog"], encoder=Weighted("model-b", "bbbb"), backend="milvus", uri=uri)
    assert refused.value.argument == "force"
    forced = Index.build(texts=texts + ["cat dog"], encoder=Weighted("model-b", "bbbb"), backend="milvus", uri=uri,
                         force=True)
    assert len(forced) == 5  # rows 0-3 were there: only id 4 went in
    with pytest.raises(InputError, match="holds an index with metric 'cosine', not 'dot'"):
        Index.build(texts=texts, encoder=Weighted("model-a", "aaaa"), backend="milvus", uri=uri, metric="dot")


def test_a_rerun_build_inserts_only_what_is_missing(tmp_path):
    texts, vectors = corpus(80)
    uri = str(tmp_path / "m.db")
    Index.build(texts=texts[:50], embeddings=vectors[:50], model_name="m", backend="milvus", uri=uri, index_type="flat")
    index = Index.build(texts=texts, embeddings=vectors, model_name="m", backend="milvus", uri=uri, index_type="flat")
    ids = index.ids
    assert len(ids) == 80 and sorted(ids) == list(range(80))


@pytest.mark.parametrize("settings, match", [
    ({"index_type": "ivfpq"}, r"IVF_PQ, which the engine .* \(milvus_lite-[\d.]+\) lacks"),
    ({"index_type": "binary"}, "BIN_IVF_FLAT"),
    ({"metric": "manhattan"}, "Milvus has no manhattan metric"),
    ({"nlist": 8}, "unknown parameter.*nlist.*hnsw"),
    ({"chunking": "chunks", "chunk_tokens": 8}, "not documents cut into chunks"),
])
def test_what_the_engine_lacks_is_said_by_name(tmp_path, settings, match):
    with pytest.raises(InputError, match=match):
        Index.build(embeddings=np.eye(4, dtype=np.float32), texts=["a", "b", "c", "d"], model_name="m",
                    backend="milvus", uri=str(tmp_path / "m.db"), **settings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_wrong_uri_is_one_clear_error_in_bounded_time():
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"uri='http://127.0.0.1:\d+': no Milvus answered within 5 s") as caught:
        Index.build(embeddings=np.eye(4, dtype=np.float32), backend="milvus", uri=f"http://127.0.0.1:{_free_port()}",
                    timeout=5)
    assert time.perf_counter() - start < 20 and "\n" not in str(caught.value)


@contextmanager
def lite_server(data: Path, port: int):
    """milvus-lite as a server process on 127.0.0.1:port, killed on the way out."""
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "milvus-lite server did not start"
                time.sleep(0.2)
        yield process
    finally:
        process.kill()
        process.wait()


def _kill_when_filling(process, uri: str, collection: str, done: threading.Event) -> None:
    """Kill the server once its collection holds some rows: in the middle of the build's inserts."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri, timeout=10)
    while process.poll() is None:
        try:
            if client.has_collection(collection) and \
                    client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"] >= 200:
                process.kill()
                break
        except Exception:
            pass
        time.sleep(0.02)
    done.set()


def test_server_killed_during_insert_then_a_rerun_completes(tmp_path):
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    vectors = np.random.default_rng(0).standard_normal((3000, 8)).astype(np.float32)
    texts = [f"row {i} {WORDS[i % len(WORDS)]}" for i in range(3000)]
    settings = dict(backend="milvus", uri=uri, collection="killed", index_type="flat", batch_rows=20, timeout=5,
                    lexical=True, model_name="m")
    with lite_server(tmp_path / "data", port) as process:
        done = threading.Event()
        threading.Thread(target=_kill_when_filling, args=(process, uri, "killed", done), daemon=True).start()
        with pytest.raises((OutputError, InputError), match="run the same build again|no Milvus answered"):
            Index.build(texts=texts, embeddings=vectors, **settings)
        assert done.wait(30) and process.poll() is not None
    with lite_server(tmp_path / "data", port):
        index = Index.build(texts=texts, embeddings=vectors, **settings)
        ids = index.ids
        assert len(ids) == 3000 and sorted(ids) == list(range(3000))  # none twice, none missing
        assert index.search("row 2999 " + WORDS[2999 % len(WORDS)], k=1, mode="lexical")[0][0]["id"] == 2999


def test_cli_builds_from_a_ray_output_folder_and_resumes(tmp_path, tiny_bert, capsys):
    from tests.search.test_ivfpq import encoded_folder

    texts = [[f"{WORDS[(k + j) % 10]} {WORDS[(3 * j) % 10]} {j}" for j in range(30 + 10 * k)] for k in range(3)]
    out, encoder = encoded_folder(tiny_bert, tmp_path, texts)
    uri = str(tmp_path / "m.db")
    args = ["index", "build", str(tmp_path / "ix"), "--backend", "milvus", "--uri", uri, "--input", str(out),
            "--lexical", "--index-type", "flat", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 120 and summary["backend"] == "milvus" and summary["model"] == encoder.name
    assert main(args + ["--overwrite"]) == 0  # a re-run: every id is there already, nothing inserted twice
    assert json.loads(capsys.readouterr().out)["count"] == 120
    index = Index.load(tmp_path / "ix")
    flat = [t for shard in texts for t in shard]
    local = Index.build(texts=flat, encoder=encoder)  # the encode's ids are 0 .. 119 in shard order too
    want, got = local.search(flat[75], k=5), index.search(flat[75], k=5, encoder=encoder)
    np.testing.assert_allclose([h["score"] for h in got[0]], [h["score"] for h in want[0]], rtol=1e-4)
    assert main(["search", str(tmp_path / "ix"), flat[5], "--mode", "lexical", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["hits"][0]["text"] == flat[5]


def test_the_server_searches_and_adds_to_a_milvus_index(tmp_path, tiny_bert):
    import httpx
    from serve.running import start

    port = _free_port()
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    with lite_server(tmp_path / "data", port):
        Index.build(texts=["the cat sat on the mat", "a dog is happy", "시위를 하는 경찰"], encoder=encoder,
                    backend="milvus", uri=f"http://127.0.0.1:{port}", lexical=True).save(tmp_path / "ix")
        running = start(str(tiny_bert), index=str(tmp_path / "ix"), allow_writes=True)
        try:
            added = httpx.post(running.url + "/index/add", json={"texts": ["i love paris"]}).json()
            assert added == {"added": 1, "ids": [3], "count": 4}
            for mode in ("dense", "lexical", "hybrid"):
                hit = httpx.post(running.url + "/search", json={"query": "i love paris", "k": 1, "mode": mode}).json()
                assert hit["results"][0]["id"] == 3, (mode, hit)
            assert httpx.get(running.url + "/info").json()["index"]["backend"] == "milvus"
        finally:
            running.stop()
        assert json.loads((tmp_path / "ix" / "meta.json").read_text())["count"] == 4
