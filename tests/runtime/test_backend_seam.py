"""The backbone seam, proved from outside: a backend written and registered here, in the test, and nothing else
changed, runs every encode option, `twinbert serve`'s app and a Ray encode, with the vectors of the torch
backend bit for bit (it wraps the torch backbone, counting its calls).

The backend is the protocol of twinbert.runtime.backends and no more: a name, a precision, a device, workers,
differentiable, forward(features, all_layers) and describe()."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import twinbert
from twinbert.runtime import backends


class CountingBackbone:
    """The torch backbone, counting its calls (also as lines in `log`, when set: Ray's actors are processes
    of their own)."""
    backend = "counting"
    workers = None
    differentiable = False  # gradients and a call's own precision go to torch, as for any compiled graph

    def __init__(self, transformer, precision: str, **how):
        self.inner = backends.reference().open(transformer, precision)
        self.precision = precision
        self.calls = 0
        self.log = None

    @property
    def device(self):
        return self.inner.device

    def forward(self, features: dict, all_layers: bool) -> dict:
        self.calls += 1
        if self.log is not None:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write("forward\n")
        return self.inner.forward(features, all_layers)

    def describe(self) -> dict:
        return {"backend": self.backend, "precision": self.precision, "calls": self.calls}


COUNTING = backends.Backend(name="counting", precisions=("float32",), devices=("cpu",), open=CountingBackbone)
TEXTS = ["the cat sat on the mat .", "", "i love paris and soccer", "a dog", "the man ran in the park . " * 12]
PROMPTS = {"query": "query : ", "passage": "passage : "}


@pytest.fixture(scope="module")
def registered():
    backends.register(COUNTING)
    yield COUNTING
    backends.unregister(COUNTING.name)


@pytest.fixture(scope="module")
def pair(registered, tiny_bert):
    """(the counting encoder, the torch encoder) of one tiny model, both with prompts."""
    ours = twinbert.load(str(tiny_bert), device="cpu", backend=registered.name)
    torch_ = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    for encoder in (ours, torch_):
        encoder.prompts = dict(PROMPTS)
    return ours, torch_


def _same(a, b):
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    else:
        np.testing.assert_array_equal(getattr(a, "vectors", a), getattr(b, "vectors", b))


OPTIONS = [
    *({"pooling": mode} for mode in ("cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token",
                                      "pooler", "cls+mean")),
    {"layers": 0}, {"layers": [0, 2]}, {"layers": "first-last"}, {"layers": -1, "pooling": "max"},
    {"output": "token"}, {"output": "token", "layers": 1}, {"output": "all_layers", "pooling": "mean"},
    {"normalize": True}, {"normalize": False, "pooling": "cls"},
    {"prompt": "the dog : "}, {"prompt_name": "query"}, {"prompt_name": "passage", "pooling": "cls"},
    {"precision": "float32"}, {"truncate_dim": 16}, {"truncate_dim": 8, "normalize": True},
    {"output_dtype": "int8"}, {"output_dtype": "binary"}, {"output_dtype": "float16"},
    {"batch_tokens": 16}, {"convert_to": "torch"},
    {"chunking": "chunks", "chunk_tokens": 8, "overlap": 2}, {"chunking": "late", "chunk_tokens": 8},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_every_encode_option_runs_through_the_registered_backend(pair, options):
    ours, torch_ = pair
    assert ours.backend == "counting" and ours.runtime_info()["backend"] == "counting"
    before = ours.transformer.backbone.calls
    got, want = ours.encode(TEXTS, **options), torch_.encode(TEXTS, **options)
    if options.get("convert_to") == "torch":
        got, want = got.numpy(), want.numpy()
    _same(got, want)
    assert ours.transformer.backbone.calls > before


def test_a_call_with_its_own_precision_and_training_run_in_torch(pair):
    ours, torch_ = pair
    before = ours.transformer.backbone.calls
    _same(ours.encode(TEXTS, precision="bfloat16"), torch_.encode(TEXTS, precision="bfloat16"))
    streamed = [np.concatenate(list(e.encode_stream(iter(TEXTS * 3), chunk_rows=4, show_progress=False)))
                for e in (ours, torch_)]
    _same(*streamed)
    assert ours.transformer.backbone.calls > before  # the stream, not the bfloat16 call
    assert ours.transformer.backbone_for("bfloat16").backend == "torch"


def test_the_served_app_runs_the_registered_backend(pair, registered, tiny_bert):
    from fastapi.testclient import TestClient

    from twinbert.serve.app import create_app
    from twinbert.serve.load import load_served

    served = load_served(str(tiny_bert), device="cpu", backend=registered.name)
    with TestClient(create_app(served)) as client:
        info = client.get("/info").json()
        tei = client.post("/embed", json={"inputs": TEXTS[:4], "normalize": False})
        openai = client.post("/v1/embeddings", json={"input": TEXTS[:4], "model": str(tiny_bert)})
    assert (info["backend"], info["model_dtype"]) == ("counting", "float32")
    assert tei.status_code == 200 and openai.status_code == 200, (tei.text, openai.text)
    want = pair[1].encode(TEXTS[:4])
    np.testing.assert_allclose(np.array(tei.json(), dtype=np.float32), want, atol=1e-6)
    np.testing.assert_allclose(np.array([d["embedding"] for d in openai.json()["data"]], dtype=np.float32), want,
                               atol=1e-6)
    assert served.encoder.transformer.backbone.calls > 0


@pytest.fixture(scope="module")
def local_ray():
    """A running Ray session (the distributed tests' cluster when it is up, else a one-CPU local one)."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.slow
def test_a_ray_encode_runs_the_registered_backend_in_the_actors(pair, registered, tiny_bert, local_ray, tmp_path):
    from ray import cloudpickle

    from twinbert.distributed import encode_dataset

    # a fresh encoder: one that ran a layer choice holds transformers' hidden-state recorder (a ContextVar,
    # which no pickle takes), whatever the backend
    ours = twinbert.load(str(tiny_bert), device="cpu", backend=registered.name)
    ours.transformer.backbone.log = tmp_path / "calls.log"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module
    try:
        rows = local_ray.data.from_items([{"id": k, "text": t} for k, t in enumerate(TEXTS * 4)])
        got = encode_dataset(rows, ours, actors=1, batch_size=8).to_pandas().sort_values("id")
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    # other batches than one local call: equal up to the padding's rounding, as tests/distributed checks
    np.testing.assert_allclose(np.stack(got["embedding"].to_list()), pair[1].encode(TEXTS * 4), atol=1e-6, rtol=0)
    assert ours.transformer.backbone.calls == 0  # not run here: in the actors, which wrote their calls
    assert (tmp_path / "calls.log").read_text(encoding="utf-8").count("forward\n") > 0
