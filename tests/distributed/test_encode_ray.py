"""Distributed encode on a real two-node Ray cluster (see conftest.py): the same vectors and ids as a local
encode, whatever the shards and the number of actors; resume after a killed worker or driver."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import twinbert
from twinbert.cli.main import main
from twinbert.distributed import encode_dataset, encode_files
from twinbert.encode_file import encode_file
from twinbert.errors import MissingExtraError
from twinbert.formats.shard_manifest import read_embeddings

from .conftest import SHARDS, encode_workers, sentence, write_shards

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu")


def local_reference(tiny, texts, tmp_path) -> np.ndarray:
    """What `twinbert encode` of the same rows, one file, writes."""
    (tmp_path / "all.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    encode_file(tiny, tmp_path / "all.txt", tmp_path / "local.npy", show_progress=False)
    return np.load(tmp_path / "local.npy")


def test_encode_dataset_returns_ids_and_the_local_vectors(cluster, tiny, tiny_bert):
    import ray

    texts = [sentence(k) for k in range(150)]
    rows = ray.data.from_items([{"id": 1000 + k, "text": t} for k, t in enumerate(texts)], override_num_blocks=5)
    encoded = encode_dataset(rows, str(tiny_bert), actors=2, batch_size=16, model_kwargs={"device": "cpu"})
    got = encoded.to_pandas().sort_values("id")
    assert set(encoded.columns()) == {"id", "embedding"}
    assert got["id"].tolist() == list(range(1000, 1150))
    np.testing.assert_allclose(np.stack(got["embedding"].to_list()), tiny.encode(texts), atol=1e-6, rtol=0)


def test_cli_seven_uneven_shards_on_two_nodes_equal_a_local_encode(cluster, tiny, tiny_bert, tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2  # one actor per node: one CPU each
    texts = write_shards(tmp_path / "in")
    code = main(["encode", "--engine", "ray", "--address", cluster.address, "--input", str(tmp_path / "in" / "*"),
                 "--output", str(tmp_path / "out"), "--model", str(tiny_bert), "--column", "text", "--actors", "2",
                 "--keep-text", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "encode (ray): 94/94 rows" in captured.err and "rows/s" in captured.err  # progress across the cluster
    summary = json.loads(captured.out)
    assert summary["rows"] == 94 and summary["shards"] == 7 and summary["encoded_shards"] == 7
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["complete"] and [s["rows"] for s in manifest["shards"]] == [n for _, n in SHARDS]
    first = pq.read_table(tmp_path / "out" / "part-00000.parquet")
    assert first.schema.field("id").type == pa.int64()
    assert pa.types.is_list(first.schema.field("embedding").type)
    assert first.schema.field("embedding").type.value_type == pa.float32()
    assert first.column("text").to_pylist() == texts[:23]
    ids, vectors = read_embeddings(tmp_path / "out")
    assert ids.tolist() == list(range(94))  # in input order, none lost, none twice
    np.testing.assert_allclose(vectors, local_reference(tiny, texts, tmp_path), atol=1e-6, rtol=0)
    # a re-run keeps the shards the manifest vouches for and redoes the others
    out = tmp_path / "out"
    part = out / "part-00002.parquet"
    part.write_bytes(part.read_bytes()[:100])  # half-written (a crash of another writer)
    (out / "part-00004.parquet").unlink()
    (out / ".part-00006.parquet.0123abcd.tmp.parquet").write_bytes(b"a killed run's temp")
    summary = encode_files(str(tmp_path / "in" / "*"), out, str(tiny_bert), column="text", address=cluster.address,
                           actors=2, keep_text=True, show_progress=False, model_kwargs={"device": "cpu"})
    assert (summary["skipped_shards"], summary["encoded_shards"], summary["encoded_rows"]) == (5, 2, 41 + 17)
    np.testing.assert_allclose(read_embeddings(out)[1], vectors, atol=1e-6, rtol=0)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # an input line edited in place (same size, same rows): that shard alone is encoded again (issue 22)
    lines = (tmp_path / "in" / "a.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    edited = lines[5].replace("a", "i", 1) if "a" in lines[5] else lines[5].replace("i", "a", 1)
    assert edited != lines[5] and len(edited) == len(lines[5])
    (tmp_path / "in" / "a.txt").write_text("".join(lines[:5] + [edited] + lines[6:]), encoding="utf-8")
    summary = encode_files(str(tmp_path / "in" / "*"), out, str(tiny_bert), column="text", address=cluster.address,
                           actors=2, keep_text=True, show_progress=False, model_kwargs={"device": "cpu"})
    assert (summary["skipped_shards"], summary["encoded_shards"]) == (6, 1)
    got = read_embeddings(out)[1]
    np.testing.assert_allclose(got[5], tiny.encode([edited.rstrip("\n")])[0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.delete(got, 5, axis=0), np.delete(vectors, 5, axis=0), atol=1e-6, rtol=0)


def test_the_actor_pool_starts_while_the_driver_prepares(cluster, tiny, tiny_bert, tmp_path, monkeypatch):
    """Issue 27: Ray's fixed start-up (workers, actors loading the model) runs beside the driver's own model
    load, fingerprint and input hashing, not after them. The driver's preparation here waits until an encode
    actor of this run exists: before, the pool started only once the manifest was written, so it never would."""
    from twinbert.distributed import job

    before, real, seen = set(encode_workers(cluster)), job._prepare, []

    def prepare_once_the_pool_runs(*args):
        deadline = time.monotonic() + 180
        while not set(encode_workers(cluster)) - before and time.monotonic() < deadline:
            time.sleep(0.1)
        seen.append(bool(set(encode_workers(cluster)) - before))
        return real(*args)

    monkeypatch.setattr(job, "_prepare", prepare_once_the_pool_runs)
    texts = write_shards(tmp_path / "in", [("a.txt", 30), ("b.txt", 0), ("c.txt", 12)])
    summary = encode_files(str(tmp_path / "in" / "*.txt"), tmp_path / "out", str(tiny_bert), address=cluster.address,
                           show_progress=False, model_kwargs={"device": "cpu"})
    assert seen == [True]
    timings = summary["timings"]
    assert set(timings) == {"ray_init", "prepared", "first_batch", "done"}
    assert timings["ray_init"] <= timings["prepared"] <= timings["first_batch"] <= timings["done"]
    ids, vectors = read_embeddings(tmp_path / "out")
    assert ids.tolist() == list(range(42))
    np.testing.assert_allclose(vectors, local_reference(tiny, texts, tmp_path), atol=1e-6, rtol=0)


def test_the_driver_reaches_ray_init_and_the_read_tasks_run_without_torch(tiny_bert):
    """torch (seconds to import) is for the model loads, which run beside Ray's start-up: the driver's path
    up to ray.init (plan, name resolution) and the read tasks' workers import none of it."""
    code = ("import sys\nfrom twinbert.distributed import job, shards\nfrom twinbert.distributed.actor import EncodeActor\n"
            "job._check_model('all-MiniLM-L6-v2'); job._check_model(sys.argv[1])\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_bert)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


class _Source:
    """What _Stream asks of a Ray Dataset: iter_batches, here over a list (an exception in it is raised)."""

    def __init__(self, items):
        self.items, self.pulled = items, 0

    def iter_batches(self, **kwargs):
        for item in self.items:
            if isinstance(item, Exception):
                raise item
            self.pulled += 1
            yield item


def test_the_stream_hands_over_batches_and_errors_and_stops_when_closed():
    from twinbert.distributed.job import _Stream

    assert list(_Stream(_Source([1, 2, 3]), RuntimeError)) == [1, 2, 3]
    with pytest.raises(ValueError, match="boom"):
        list(_Stream(_Source([1, ValueError("boom"), 2]), RuntimeError))
    source = _Source(range(10_000))
    stream = _Stream(source, RuntimeError)
    assert next(iter(stream)) == 0
    stream.close()
    time.sleep(0.5)
    pulled = source.pulled
    time.sleep(0.5)
    assert source.pulled == pulled <= _Stream.DEPTH + 2  # closed: it stopped pulling (the queue held a few)


def big_input(folder: Path) -> list[str]:
    return write_shards(folder, [(f"s{k}.txt", 600 + 97 * k) for k in range(7)])


def wait_for_first_shard(out: Path, stop: threading.Event | None = None, timeout: float = 300) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and not (stop and stop.is_set()):
        try:
            manifest = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = None
        if manifest and any(s["sha256"] for s in manifest["shards"]):
            return not manifest["complete"]
        time.sleep(0.02)
    return False


def test_a_killed_driver_resumes_on_rerun(cluster, tiny, tiny_bert, tmp_path):
    texts = big_input(tmp_path / "in")
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "twinbert", "encode", "--engine", "ray", "--address", cluster.address,
            "--input", str(tmp_path / "in" / "*.txt"), "--output", str(out), "--model", str(tiny_bert),
            "--actors", "2", "--device", "cpu", "--batch-tokens", "256", "--quiet"]
    driver = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        killed_midway = wait_for_first_shard(out)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    # --quiet: none of Ray's own lines either (its C++ core printed warnings and an actor-arguments ERROR)
    assert driver.stderr.read().decode(errors="replace").strip() == ""
    manifest = json.loads((out / "manifest.json").read_text())
    done = sum(bool(s["sha256"]) for s in manifest["shards"])
    assert killed_midway and 1 <= done < 7 and not manifest["complete"]
    summary = encode_files(str(tmp_path / "in" / "*.txt"), out, str(tiny_bert), address=cluster.address,
                           actors=2, show_progress=False, model_kwargs={"device": "cpu"}, batch_tokens=256)
    assert summary["skipped_shards"] == done and summary["encoded_shards"] == 7 - done
    ids, vectors = read_embeddings(out)
    assert ids.tolist() == list(range(len(texts)))
    np.testing.assert_allclose(vectors, local_reference(tiny, texts, tmp_path), atol=1e-6, rtol=0)


def test_a_killed_worker_loses_no_row(cluster, tiny, tiny_bert, tmp_path):
    texts = big_input(tmp_path / "in")
    out = tmp_path / "out"
    kwargs = {"address": cluster.address, "actors": 2, "show_progress": False, "model_kwargs": {"device": "cpu"},
              "batch_tokens": 256}
    outcome: dict = {}

    def run():
        try:
            outcome["summary"] = encode_files(str(tmp_path / "in" / "*.txt"), out, str(tiny_bert), **kwargs)
        except Exception as exc:  # noqa: BLE001 (a failed run is allowed: the re-run must complete)
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    stop = threading.Event()
    assert wait_for_first_shard(out, stop)
    victims = encode_workers(cluster)
    assert victims
    os.kill(victims[0], signal.SIGKILL)  # a worker process of this test's own cluster
    worker.join(timeout=300)
    if "error" in outcome:  # Ray gave up on the run: the re-run resumes it
        encode_files(str(tmp_path / "in" / "*.txt"), out, str(tiny_bert), **kwargs)
    ids, vectors = read_embeddings(out)
    assert ids.tolist() == list(range(len(texts)))
    np.testing.assert_allclose(vectors, local_reference(tiny, texts, tmp_path), atol=1e-6, rtol=0)


@pytest.mark.parametrize("listener", ["nothing", "silent"])
def test_an_address_where_no_ray_listens_fails_in_seconds_with_one_line(tiny_bert, tmp_path, capsys, listener):
    """Ray's own client retried for minutes (still printing warnings after 90 s, with --quiet). Bound: the
    probe's 5 s (PROBE_S) plus reading the input; asserted with room for a busy machine."""
    import socket

    from twinbert.distributed import _ray

    server = None
    address = "127.0.0.1:1"  # a privileged port nobody listens on: refused at once
    if listener == "silent":  # takes the connection and never answers, as a non-Ray service may
        server = socket.create_server(("127.0.0.1", 0))
        address = f"127.0.0.1:{server.getsockname()[1]}"
    (tmp_path / "a.txt").write_text("the cat sat\n", encoding="utf-8")
    start = time.perf_counter()
    try:
        code = main(["encode", "--engine", "ray", "--address", address, "--input", str(tmp_path / "a.txt"),
                     "--output", str(tmp_path / "out"), "--model", str(tiny_bert), "--quiet"])
    finally:
        if server is not None:
            server.close()
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and seconds < _ray.PROBE_S + 10, (code, seconds)
    reason = "Connection refused" if listener == "nothing" else f"no answer within {_ray.PROBE_S:g} s"
    assert err.strip().splitlines() == [f"twinbert encode: error: cannot reach a Ray cluster at '{address}' "
                                        f"({reason}); start one with `ray start --head`, or leave --address out "
                                        "for a local runtime"]
    assert not (tmp_path / "out").exists()


def test_missing_ray_names_the_extra(monkeypatch, tiny_bert, tmp_path, capsys):
    import builtins

    real = builtins.__import__

    def without_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_ray)
    from twinbert.distributed._ray import require_ray

    with pytest.raises(MissingExtraError, match=r"pip install 'twinbert\[ray\]'") as missing:
        require_ray()
    assert missing.value.extra == "ray"
    (tmp_path / "a.txt").write_text("a cat\n", encoding="utf-8")
    monkeypatch.setattr("twinbert.distributed._ray.connect", lambda *a, **k: require_ray())
    code = main(["encode", "--engine", "ray", "--input", str(tmp_path / "a.txt"), "--output", str(tmp_path / "o"),
                 "--model", str(tiny_bert), "--quiet"])
    assert code == 2 and "pip install 'twinbert[ray]'" in capsys.readouterr().err



class _FakeRay:
    """Just what encode_dataset asks of ray: the nodes, the cluster's resources, Ray Data's pool strategy."""

    def __init__(self, nodes):
        self._nodes = nodes
        self.data = type("data", (), {"ActorPoolStrategy": staticmethod(lambda size: ("pool", size))})

    def nodes(self):
        return self._nodes

    def cluster_resources(self):
        return {"CPU": sum(n["Resources"].get("CPU", 0) for n in self._nodes if n["Alive"]),
                "GPU": sum(n["Resources"].get("GPU", 0) for n in self._nodes if n["Alive"])}


class _Recorder:
    def map_batches(self, fn, **kwargs):
        self.kwargs = kwargs
        return self


@pytest.mark.parametrize("nodes, gpus, actors, expected", [
    # a head kept free of work (0 CPUs), a 4-core and an 8-core node, a dead 2-core one: actors of the
    # smallest live node's size, as many as the cluster's 12 CPUs hold
    ([(0, 0, True), (4, 0, True), (8, 0, True), (2, 0, False)], 0, None, {"num_cpus": 4, "actors": 3, "rows": 8192}),
    ([(2, 0, True)], 0, None, {"num_cpus": 2, "actors": 1, "rows": 4096}),
    ([(64, 0, True)], 0, None, {"num_cpus": 64, "actors": 1, "rows": 32768}),  # rows per call capped
    ([(16, 2, True)], 1, None, {"num_cpus": 1, "actors": 2, "rows": 2048}),  # GPU actors: one CPU each
    # actors given: the cluster's CPUs shared among them, never more than a node has
    ([(2, 0, True), (2, 0, True)], 0, 4, {"num_cpus": 1, "actors": 4, "rows": 2048}),
    ([(8, 0, True), (8, 0, True)], 0, 4, {"num_cpus": 4, "actors": 4, "rows": 8192}),
    ([(8, 0, True)], 0, 1, {"num_cpus": 8, "actors": 1, "rows": 16384}),
])
def test_actor_defaults_one_actor_per_node(monkeypatch, nodes, gpus, actors, expected):
    from twinbert.distributed import dataset as module

    fake = _FakeRay([{"Alive": alive, "Resources": {"CPU": c, "GPU": g}} for c, g, alive in nodes])
    monkeypatch.setattr(module, "require_ray", lambda: fake)
    recorder = _Recorder()
    encode_dataset(recorder, "model", num_gpus=gpus, actors=actors)
    assert recorder.kwargs["num_cpus"] == expected["num_cpus"]
    assert recorder.kwargs["compute"] == ("pool", expected["actors"])
    assert recorder.kwargs["batch_size"] == expected["rows"]
    assert recorder.kwargs["fn_constructor_args"][-1] == expected["num_cpus"]  # the actor's threads


def test_a_failed_run_names_the_input_that_vanished_and_carries_no_colour_codes(tmp_path):
    """Issue 22: an input deleted while Ray read it gave Ray's coloured first line and a resume that cannot
    work; the error names the file (exit 2 through the CLI), and other failures lose the terminal colours."""
    from twinbert.distributed.job import _failure
    from twinbert.distributed.shards import Shard
    from twinbert.errors import InputError, OutputError

    kept = tmp_path / "a.txt"
    kept.write_text("one\ntwo\n", encoding="utf-8")
    shards = [Shard(0, str(kept), 2, 0, kept.stat().st_size, None), Shard(1, str(tmp_path / "b.txt"), 1, 2, 4, None)]
    ray_error = RuntimeError("\x1b[36mray::ReadText()\x1b[39m (pid=1) FileNotFoundError: b.txt\nmore")
    error = _failure(ray_error, tmp_path / "out", shards)
    assert isinstance(error, InputError) and str(error).startswith(f"{tmp_path / 'b.txt'}: vanished")
    error = _failure(ray_error, tmp_path / "out", shards[:1])
    assert isinstance(error, OutputError) and "\x1b" not in str(error)
    assert "(ray::ReadText() (pid=1) FileNotFoundError: b.txt)" in str(error)
    kept.write_text("one\ntwo\nthree\n", encoding="utf-8")
    assert "changed while the run read it" in str(_failure(ray_error, tmp_path / "out", shards[:1]))
