"""Bad input for search, indexes and mining: twinbert index build|add|tune, twinbert search, twinbert mine."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from bad_input.cases import Case

TEXTS = ["the cat sat on the mat", "a dog is happy", "i love paris", "the man ran in the park"]


def build(root: Path, tiny: Path) -> None:
    from conftest import build_tiny_bert

    import twinbert
    from twinbert.search import Index

    s = root / "search"
    s.mkdir()
    (s / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    (s / "empty.txt").write_text("", encoding="utf-8")
    (s / "two.txt").write_text("a rubber duck\nthe table\n", encoding="utf-8")
    encoder = twinbert.load(str(tiny))
    vectors = encoder.encode(TEXTS)
    for name in ("ix", "ix-keep", "ix-replace", "ix-add"):
        Index.build(texts=TEXTS, encoder=encoder).save(s / name)
    nan = vectors.copy()
    nan[2, 5] = np.nan
    np.save(s / "nan.npy", nan)
    inf = vectors.copy()
    inf[1, 0] = np.inf
    np.save(s / "inf.npy", inf)
    np.save(s / "none.npy", np.zeros((0, vectors.shape[1]), np.float32))
    # the same folder name, other weights (a retrained model); the same weights under another name
    build_tiny_bert(s / "retrained" / tiny.name, seed=7)
    shutil.copytree(tiny, s / "moved" / "renamed-model")
    (s / "user-folder").mkdir()
    (s / "user-folder" / "notes.txt").write_text("mine", encoding="utf-8")
    rng = np.random.default_rng(0)
    Index.build(embeddings=rng.standard_normal((100, 8)).astype(np.float32), backend="hnsw",
                model_name="m", recall_target=None).save(s / "ix-hnsw")


def _count(folder: Path) -> int:
    return json.loads((folder / "meta.json").read_text(encoding="utf-8"))["count"]


def _unchanged(name: str):
    def check(root: Path) -> None:
        assert _count(root / "search" / name) == len(TEXTS)
        assert not [p for p in (root / "search").iterdir() if p.name.startswith(f".{name}.")]
    return check


def _nothing_at(name: str):
    def check(root: Path) -> None:
        assert not (root / "search" / name).exists()
    return check


def _user_files_kept(root: Path) -> None:
    folder = root / "search" / "user-folder"
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "mine"


def _replaced(root: Path) -> None:
    assert _count(root / "search" / "ix-replace") == 2  # was len(TEXTS): the new index is in


T = "{root}/search/"


def _absent(name: str):
    def check(root: Path) -> None:
        assert not (root / "search" / name).exists(), name
    return check

CASES = [
    # documents (chunking): sizes the model cannot take, vectors that cannot be cut
    Case("index-build-chunk-too-long", "index build --chunking with chunks longer than the model's window",
         ("index", "build", T + "out-chunks", "--input", T + "texts.txt", "--model", "{tiny}", "--chunking", "chunks",
          "--chunk-tokens", "1000"), 2, "--chunk-tokens=1000 is more than", _nothing_at("out-chunks")),
    Case("index-build-chunking-embeddings", "index build --chunking from precomputed vectors",
         ("index", "build", T + "out-chunks2", "--embeddings", T + "inf.npy", "--model", "m", "--chunking", "late"), 2,
         "give the texts and an encoder instead of", _nothing_at("out-chunks2")),
    # the model behind an index: its weights and settings, not only its name
    Case("search-retrained-model-same-name", "search an index with another model of the same name",
         ("search", T + "ix", "a cat", "--model", T + "retrained/bert"), 2, "pass --force"),
    Case("search-moved-model", "search an index with its model copied to another folder",
         ("search", T + "ix", "a cat", "--model", T + "moved/renamed-model"), 0, ""),
    # NaN / inf vectors
    Case("index-build-nan-embeddings", "index build from a .npy with a NaN",
         ("index", "build", T + "out-nan", "--embeddings", T + "nan.npy", "--model", "m"), 2,
         "nan.npy row 2 has NaN", _nothing_at("out-nan")),
    Case("index-build-inf-embeddings", "index build from a .npy with an infinite value",
         ("index", "build", T + "out-inf", "--embeddings", T + "inf.npy", "--model", "m"), 2,
         "inf.npy row 1 has an infinite value", _nothing_at("out-inf")),
    Case("index-add-nan-embeddings", "index add a .npy with a NaN",
         ("index", "add", T + "ix-keep", "--embeddings", T + "nan.npy"), 2, "row 2 has NaN",
         _unchanged("ix-keep")),
    # empty input
    Case("index-build-empty-input", "index build from an empty text file",
         ("index", "build", T + "out-empty", "--input", T + "empty.txt", "--model", "{tiny}"), 2,
         "empty.txt: no texts to index", _nothing_at("out-empty")),
    Case("index-build-empty-embeddings", "index build from a .npy with no rows",
         ("index", "build", T + "out-none", "--embeddings", T + "none.npy", "--model", "m"), 2,
         "none.npy: no rows to index", _nothing_at("out-none")),
    Case("index-add-empty-input", "index add an empty text file",
         ("index", "add", T + "ix-keep", "--input", T + "empty.txt"), 2, "empty.txt: no texts to add",
         _unchanged("ix-keep")),
    Case("index-add-empty-embeddings", "index add a .npy with no rows",
         ("index", "add", T + "ix-keep", "--embeddings", T + "none.npy"), 2,
         "none.npy: no embeddings to add", _unchanged("ix-keep")),
    Case("mine-empty-input", "mine an empty text file",
         ("mine", T + "empty.txt", "--model", "{tiny}"), 2, "empty.txt: no texts to mine"),
    Case("index-tune-empty-queries", "index tune with an empty queries file",
         ("index", "tune", T + "ix-hnsw", "--queries", T + "empty.txt", "--model", "{tiny}"), 2,
         "empty.txt: no texts to tune with"),
    # counts of 0 or less
    Case("search-k-zero", "search with -k 0",
         ("search", T + "ix", "a cat", "-k", "0"), 2, "argument -k/--top-k: expected a positive integer"),
    Case("mine-top-k-negative", "mine with --top-k -1",
         ("mine", T + "texts.txt", "--model", "{tiny}", "--top-k", "-1"), 2,
         "argument --top-k: expected a positive integer"),
    Case("mine-top-zero", "mine with --top 0",
         ("mine", T + "texts.txt", "--model", "{tiny}", "--top", "0"), 2,
         "argument --top: expected a positive integer"),
    Case("index-tune-k-zero", "index tune with -k 0",
         ("index", "tune", T + "ix-hnsw", "-k", "0"), 2, "argument -k/--top-k: expected a positive integer"),
    # never replace what the user had
    Case("index-build-over-index", "index build over an existing index",
         ("index", "build", T + "ix-keep", "--input", T + "texts.txt", "--model", "{tiny}"), 2,
         "an index already exists here; pass --overwrite", _unchanged("ix-keep")),
    Case("index-build-into-user-folder", "index build into a folder of other files",
         ("index", "build", T + "user-folder", "--input", T + "texts.txt", "--model", "{tiny}"), 2,
         "not an index; pass --overwrite", _user_files_kept),
    Case("index-build-overwrite-bad-input", "index build --overwrite from bad input",
         ("index", "build", T + "ix-keep", "--embeddings", T + "nan.npy", "--model", "m", "--overwrite"), 2,
         "row 2 has NaN", _unchanged("ix-keep")),
    # an approximate backend asked for on too few rows: what would work, never FAISS's RuntimeError
    Case("index-build-ivfpq-few-rows", "index build --backend ivfpq on 4 rows (PQ trains 256 codes at 8 bits)",
         ("index", "build", T + "ivfpq-small", "--input", T + "texts.txt", "--model", "{tiny}", "--backend", "ivfpq"),
         2, "with nbits=8 learns 256 codes per sub-vector and needs at least 256 training rows", _absent("ivfpq-small")),
    Case("index-build-ivf-nlist-above-rows", "index build --backend ivf --param nlist=64 on 4 rows",
         ("index", "build", T + "ivf-nlist", "--input", T + "texts.txt", "--model", "{tiny}", "--backend", "ivf",
          "--param", "nlist=64"),
         2, "nlist", _absent("ivf-nlist")),
    Case("index-build-param-twice", "index build --param nlist=2 --param nlist=4",
         ("index", "build", T + "ivf-twice", "--input", T + "texts.txt", "--model", "{tiny}", "--backend", "ivf",
          "--param", "nlist=2", "--param", "nlist=4"),
         2, "given twice", _absent("ivf-twice")),
    Case("index-build-overwrite", "index build --overwrite over an existing index",
         ("index", "build", T + "ix-replace", "--input", T + "two.txt", "--model", "{tiny}", "--overwrite"),
         0, "", _replaced),
]
