"""`twinbert export`: the standalone sentence graph gives twinbert's vectors from bare onnxruntime +
tokenizers (<= 1e-5 at fp32); sentence-transformers 5.7 loads the folder with backend="onnx" and
backend="openvino" (run in /work/venvs/st-ov when that virtualenv exists, else the layout it reads is
checked); int8 and OpenVINO exports; the model exported is never overwritten."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from cli_runner import cli_env
from conftest import stsb_sentences
from tokenizers import Tokenizer

import twinbert
from twinbert.errors import InputError, OutputError
from twinbert.export import export_model

ST_OV = Path(os.environ.get("TWINBERT_ST_OV", "/work/venvs/st-ov")) / "bin" / "python"
TEXTS = ["the cat sat on the mat .", "", "i love paris and soccer", "a dog", "the man ran in the park . " * 3]


def bare_onnxruntime(folder: Path, texts: list[str], max_length: int) -> np.ndarray:
    """What a Java / C# / Rust user does: the tokenizer file and the graph, nothing of twinbert."""
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=0)
    enc = tok.encode_batch(texts)
    feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
             "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
             "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    session = ort.InferenceSession(str(folder / "onnx" / "sentence_embedding.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in session.get_outputs()] == ["sentence_embedding"]
    return session.run(["sentence_embedding"], {k: feeds[k] for k in names})[0]


@pytest.fixture(scope="module")
def tiny_exports(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return {b: export_model(str(tiny_bert), root / b, backend=b) for b in ("onnx", "openvino")}


def test_layouts(tiny_exports):
    onnx, ov = (Path(tiny_exports[b]["output"]) for b in ("onnx", "openvino"))
    assert tiny_exports["onnx"]["files"] == ["onnx/model.onnx", "onnx/sentence_embedding.onnx"]
    assert tiny_exports["openvino"]["files"] == ["onnx/sentence_embedding.onnx", "openvino/openvino_model.bin",
                                                 "openvino/openvino_model.xml"]
    for folder in (onnx, ov):
        assert json.loads((folder / "modules.json").read_text())[0]["type"].endswith("Transformer")
        assert (folder / "1_Pooling" / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    session = ort.InferenceSession(str(onnx / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state"]  # what optimum / TEI read
    import openvino as ov_runtime

    model = ov_runtime.Core().read_model(str(ov / "openvino" / "openvino_model.xml"))
    assert {p.get_any_name() for p in model.outputs} == {"last_hidden_state"}
    assert model.get_rt_info(["runtime_options", "INFERENCE_PRECISION_HINT"]).astype(str) == "f32"


def test_standalone_graph_with_bare_onnxruntime_equals_twinbert(tiny_bert, tiny_exports):
    folder = Path(tiny_exports["onnx"]["output"])
    want = twinbert.load(str(tiny_bert), device="cpu", backend="torch").encode(TEXTS)
    np.testing.assert_allclose(bare_onnxruntime(folder, TEXTS, 64), want, atol=1e-5)
    assert tiny_exports["onnx"]["max_abs_diff"] <= 1e-5


@pytest.mark.slow
def test_real_model_standalone_graph(minilm, tmp_path):
    report = export_model("all-MiniLM-L6-v2", tmp_path / "minilm")
    texts = stsb_sentences("test")[:64] + ["", "a " * 400]  # an empty text and one past max_seq_length
    got = bare_onnxruntime(Path(report["output"]), texts, minilm.max_seq_length)
    assert np.abs(got - minilm.encode(texts)).max() <= 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # Normalize is inside the graph


ST_SCRIPT = textwrap.dedent("""
    import json, sys
    from sentence_transformers import SentenceTransformer
    texts, result = json.loads(sys.argv[1]), {}
    for backend, folder in zip(("onnx", "openvino"), sys.argv[2:]):
        kwargs = {"ov_config": {"INFERENCE_PRECISION_HINT": "f32"}} if backend == "openvino" else {"file_name": "model.onnx"}
        model = SentenceTransformer(folder, backend=backend, device="cpu", model_kwargs=kwargs)
        result[backend] = {"class": type(model[0].auto_model).__name__, "vectors": model.encode(texts).tolist()}
    print(json.dumps(result))
""")


def test_sentence_transformers_loads_the_export(tiny_bert, tiny_exports, tmp_path):
    folders = [Path(tiny_exports[b]["output"]) for b in ("onnx", "openvino")]
    if not ST_OV.is_file():  # no sentence-transformers with its onnx/openvino extras: the layout it reads
        for folder, graph in zip(folders, ("onnx/model.onnx", "openvino/openvino_model.xml")):
            assert (folder / graph).is_file() and (folder / "modules.json").is_file()
        return
    want = twinbert.load(str(tiny_bert), device="cpu", backend="torch").encode(TEXTS)
    out = subprocess.run([str(ST_OV), "-c", ST_SCRIPT, json.dumps(TEXTS), *map(str, folders)], capture_output=True,
                         text=True, env=cli_env(tmp_path / "hf"), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["onnx"]["class"] == "ORTModelForFeatureExtraction"
    assert result["openvino"]["class"] == "OVModelForFeatureExtraction"
    for backend in ("onnx", "openvino"):
        np.testing.assert_allclose(np.array(result[backend]["vectors"]), want, atol=1e-5)


def test_int8_export_with_calibration(tiny_bert, tmp_path):
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("\n".join(TEXTS * 4) + "\n", encoding="utf-8")
    report = export_model(str(tiny_bert), tmp_path / "int8", precision="int8", calibration=str(calibration))
    assert report["int8"] == "static" and report["files"] == ["onnx/model.onnx", "onnx/sentence_embedding.onnx"]
    ops = {n.op_type for n in __import__("onnx").load(str(Path(report["output"]) / "onnx" / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    got = bare_onnxruntime(Path(report["output"]), TEXTS, 64)
    want = twinbert.load(str(tiny_bert), device="cpu", backend="torch").encode(TEXTS)
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.95 and report["max_abs_diff"] > 0  # quantized, and close


def test_export_refuses_to_overwrite_the_model_and_bad_choices(tiny_bert, tmp_path):
    with pytest.raises(OutputError, match="is the folder of the model being read"):
        export_model(str(tiny_bert), str(tiny_bert))
    with pytest.raises(InputError, match="precision 'bfloat16' is not computed by backend 'onnx'; use backend openvino"):
        export_model(str(tiny_bert), tmp_path / "x", precision="bfloat16")
    with pytest.raises(InputError, match="calibration sentences are for --precision int8"):
        export_model(str(tiny_bert), tmp_path / "x", calibration=["a sentence"])
    assert not (tmp_path / "x").exists()


def test_cli_export_json(tiny_bert, tmp_path):
    out = subprocess.run([sys.executable, "-m", "twinbert", "export", str(tiny_bert), str(tmp_path / "cli"),
                          "--backend", "openvino", "--precision", "bfloat16", "--json"], capture_output=True, text=True,
                         env=cli_env(tmp_path / "hf"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert (report["backend"], report["precision"]) == ("openvino", "bfloat16")
    import openvino as ov_runtime

    model = ov_runtime.Core().read_model(str(tmp_path / "cli" / "openvino" / "openvino_model.xml"))
    assert model.get_rt_info(["runtime_options", "INFERENCE_PRECISION_HINT"]).astype(str) == "bf16"
