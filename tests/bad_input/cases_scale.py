"""Bad input for the scale features: twinbert encode --engine ray (inputs, output folder, resume of another
run) and twinbert index build --backend ivfpq / int8 / binary. Every case fails before Ray starts or any vector is written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bad_input.cases import Case

S = "{root}/scale/"


def build(root: Path, tiny: Path) -> None:
    s = root / "scale"
    (s / "in").mkdir(parents=True)
    (s / "in" / "a.txt").write_text("the cat sat\ni love paris\n", encoding="utf-8")
    (s / "in" / "b.txt").write_text("a dog is happy\n", encoding="utf-8")
    (s / "empty").mkdir()
    (s / "empty" / "a.txt").write_text("", encoding="utf-8")
    (s / "theirs").mkdir()
    (s / "theirs" / "notes.txt").write_text("mine", encoding="utf-8")
    (s / "a-file").write_text("mine", encoding="utf-8")
    (s / "bad.jsonl").write_text('{"text": "the cat"}\n{"txt": "a dog"}\n', encoding="utf-8")
    other = s / "other-run"  # the output folder of a run over other inputs
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({
        "format": "twinbert-embeddings", "format_version": 1, "column": None, "text": False, "dimension": 32,
        "rows": 99, "complete": True, "model": {}, "shards": []}), encoding="utf-8")
    (s / "garbage").mkdir()
    (s / "garbage" / "manifest.json").write_text("{not json", encoding="utf-8")
    (s / "unfinished").mkdir()
    (s / "unfinished" / "manifest.json").write_text(json.dumps({
        "format": "twinbert-embeddings", "format_version": 1, "complete": False, "shards": []}), encoding="utf-8")
    np.save(s / "vectors.npy", np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32))
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    pq.write_table(pa.table({"body": ["the cat", "a dog"], "n": [1, 2]}), s / "texts.parquet")
    (s / "broken.parquet").write_bytes(b"PAR1 not really")
    _ray_output(s / "shard-gone", gone=1)
    _ray_output(s / "shard-damaged", damaged=0)


def _ray_output(folder: Path, gone: int | None = None, damaged: int | None = None) -> None:
    """A finished distributed encode (written by its own writer), then a shard deleted or damaged."""
    from twinbert.formats import shard_manifest as output

    folder.mkdir()
    entries = []
    for k in range(2):
        vectors = np.random.default_rng(k).standard_normal((300, 8)).astype(np.float32)
        ids = np.arange(300 * k, 300 * (k + 1))
        entries.append({"file": output.shard_name(k), "rows": 300, "first_id": 300 * k,
                        "sha256": output.write_shard(folder, k, ids, vectors, None)})
    output.write_manifest(folder, {"format": output.FORMAT, "format_version": output.FORMAT_VERSION, "model": None,
                                   "column": None, "text": False, "dimension": 8, "rows": 600, "complete": True,
                                   "shards": entries})
    if gone is not None:
        (folder / output.shard_name(gone)).unlink()
    if damaged is not None:
        shard = folder / output.shard_name(damaged)
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))


def _untouched(name: str):
    def check(root: Path) -> None:
        folder = root / "scale" / name
        assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    return check


def _nothing_at(name: str):
    def check(root: Path) -> None:
        assert not (root / "scale" / name).exists()
    return check


RAY = ("encode", "--engine", "ray", "--model", "{tiny}")

CASES = [
    Case("ray-encode-no-match", "encode --engine ray with a glob that matches nothing",
         (*RAY, "--input", S + "in/*.csv", "--output", S + "out1"), 2, "in/*.csv: no file matches the pattern",
         _nothing_at("out1")),
    Case("ray-encode-missing-input", "encode --engine ray with a missing input file",
         (*RAY, "--input", S + "nope.txt", "--output", S + "out2"), 2, "nope.txt: input file not found",
         _nothing_at("out2")),
    Case("ray-encode-no-texts", "encode --engine ray of empty files only",
         (*RAY, "--input", S + "empty/*.txt", "--output", S + "out3"), 2, "no texts to encode", _nothing_at("out3")),
    Case("ray-encode-bad-jsonl-row", "encode --engine ray of a .jsonl with a row lacking the field",
         (*RAY, "--input", S + "bad.jsonl", "--column", "text", "--output", S + "out4"), 2,
         "bad.jsonl, line 2: no field 'text'", _nothing_at("out4")),
    Case("ray-encode-output-is-a-file", "encode --engine ray with --output an existing file",
         (*RAY, "--input", S + "in/*.txt", "--output", S + "a-file"), 2, "a-file: exists and is not a folder"),
    Case("ray-encode-output-folder-of-others", "encode --engine ray into a folder of other files",
         (*RAY, "--input", S + "in/*.txt", "--output", S + "theirs"), 2,
         "a non-empty folder without manifest.json", _untouched("theirs")),
    Case("ray-encode-output-among-inputs", "encode --engine ray into the folder of its inputs",
         (*RAY, "--input", S + "in/*.txt", "--output", S + "in"), 2, "holds input files"),
    Case("ray-encode-other-run", "encode --engine ray into the output of another run",
         (*RAY, "--input", S + "in/*.txt", "--output", S + "other-run"), 2,
         "holds the shards of another run (rows 99, now 3)"),
    Case("ray-encode-garbage-manifest", "encode --engine ray into a folder whose manifest.json is broken",
         (*RAY, "--input", S + "in/*.txt", "--output", S + "garbage"), 2, "manifest.json: not valid JSON"),
    Case("ray-encode-parquet-no-column", "encode --engine ray of a .parquet without --column",
         (*RAY, "--input", S + "texts.parquet", "--output", S + "out5"), 2,
         "texts.parquet: a .parquet file needs --column", _nothing_at("out5")),
    Case("ray-encode-parquet-wrong-column", "encode --engine ray of a .parquet with an unknown --column",
         (*RAY, "--input", S + "texts.parquet", "--column", "text", "--output", S + "out6"), 2,
         "texts.parquet: no column 'text' (columns: body, n)", _nothing_at("out6")),
    Case("ray-encode-parquet-not-text", "encode --engine ray of a .parquet column of numbers",
         (*RAY, "--input", S + "texts.parquet", "--column", "n", "--output", S + "out7"), 2,
         "column 'n' is int64, expected text"),
    Case("ray-encode-broken-parquet", "encode --engine ray of a broken .parquet file",
         (*RAY, "--input", S + "broken.parquet", "--column", "text", "--output", S + "out8"), 2,
         "broken.parquet: not a readable Parquet file"),
    Case("ray-encode-missing-model", "encode --engine ray with a model folder that does not exist",
         ("encode", "--engine", "ray", "--model", S + "no-such-model", "--input", S + "in/*.txt", "--output",
          S + "out9"), 2, "no-such-model", _nothing_at("out9")),
    Case("ivfpq-build-unfinished-run", "index build --backend ivfpq from an unfinished distributed encode",
         ("index", "build", S + "ix1", "--backend", "ivfpq", "--input", S + "unfinished"), 2,
         "no complete distributed encode here", _nothing_at("ix1")),
    Case("ivfpq-build-shard-deleted", "index build --backend ivfpq from a Ray output with a shard deleted",
         ("index", "build", S + "ix7", "--backend", "ivfpq", "--input", S + "shard-gone"), 2,
         "part-00001.parquet: missing; manifest.json lists it", _nothing_at("ix7")),
    Case("ivfpq-build-shard-damaged", "index build --backend ivfpq from a Ray output with a damaged shard",
         ("index", "build", S + "ix8", "--backend", "ivfpq", "--input", S + "shard-damaged"), 2,
         "part-00000.parquet: damaged or changed since it was written", _nothing_at("ix8")),
    Case("ray-encode-nothing-listens", "encode --engine ray --address where no Ray cluster listens",
         (*RAY, "--input", S + "in/*.txt", "--output", S + "out10", "--address", "127.0.0.1:1", "--quiet"), 2,
         "cannot reach a Ray cluster at '127.0.0.1:1' (Connection refused)", _nothing_at("out10")),
    Case("ivfpq-build-manhattan", "index build --backend ivfpq --metric manhattan",
         ("index", "build", S + "ix2", "--backend", "ivfpq", "--metric", "manhattan", "--embeddings",
          S + "vectors.npy", "--model", "m"), 2, "product quantization has no manhattan distance",
         _nothing_at("ix2")),
    Case("ivfpq-build-bad-m", "index build --backend ivfpq with m that does not divide the dimension",
         ("index", "build", S + "ix3", "--backend", "ivfpq", "--param", "m=3", "--embeddings", S + "vectors.npy",
          "--model", "m"), 2, "m=3 for backend='ivfpq' must divide the dimension 8", _nothing_at("ix3")),
    Case("ivfpq-build-unknown-param", "index build --backend ivfpq with an hnsw parameter",
         ("index", "build", S + "ix4", "--backend", "ivfpq", "--param", "ef_search=64", "--embeddings",
          S + "vectors.npy", "--model", "m"), 2, "unknown parameter(s) ef_search for backend='ivfpq'",
         _nothing_at("ix4")),
    Case("binary-build-manhattan", "index build --backend binary --metric manhattan",
         ("index", "build", S + "ix5", "--backend", "binary", "--metric", "manhattan", "--embeddings",
          S + "vectors.npy", "--model", "m"), 2, "backend='binary' ranks by cosine, dot or euclidean",
         _nothing_at("ix5")),
    Case("int8-build-bad-rerank", "index build --backend int8 --param rerank=0",
         ("index", "build", S + "ix6", "--backend", "int8", "--param", "rerank=0", "--embeddings",
          S + "vectors.npy", "--model", "m"), 2, "rerank=0 for backend='int8' must be a positive integer",
         _nothing_at("ix6")),
]
