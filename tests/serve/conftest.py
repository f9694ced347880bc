"""Fixtures: a server with the default model, a tiny cross-encoder, a tiny classifier and an index."""
from __future__ import annotations

import httpx
import pytest
from conftest import build_tiny_bert

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from serve.running import CORPUS, start  # noqa: E402


@pytest.fixture(scope="session")
def heads(tmp_path_factory):
    """A tiny cross-encoder (one score) and a tiny 3-label classifier, saved as folders."""
    from twinbert.bert import Classifier, CrossEncoder

    root = tmp_path_factory.mktemp("heads")
    base = build_tiny_bert(root / "base")
    CrossEncoder.new(base, seed=1).save(root / "cross")
    Classifier.new(base, ["negative", "neutral", "positive"], seed=2).save(root / "classifier")
    return {"cross_encoder": root / "cross", "classifier": root / "classifier"}


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, minilm):
    from twinbert.search import Index

    path = tmp_path_factory.mktemp("index") / "ix"
    Index.build(texts=CORPUS, encoder=minilm, lexical=True).save(path)  # lexical: /search's modes
    return path


@pytest.fixture(scope="session")
def server(minilm, heads, index_dir):
    """The default model with every extra route: cross-encoder, classifier, read-only index."""
    running = start("all-MiniLM-L6-v2", cross_encoder=str(heads["cross_encoder"]),
                    classifier=str(heads["classifier"]), index=str(index_dir), cors_origins=("http://example.org",))
    yield running
    running.stop()


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c
