"""Every kind of folder twinbert writes (save, export, trim-vocab, the shipped Korean model; the recipe
publishes through save) loads in sentence-transformers 6 + transformers 5 (this virtualenv) and in
sentence-transformers 5.7 + transformers 4.57 (.venv-st57, built by `make test`; one child process for
all folders), with twinbert's own vectors (<= 1e-5).

transformers 5 saves its generic tokenizer class as "TokenizersBackend", a name 4.57 refuses
("Unrecognized processing class"); formats.st_folder.write_tokenizer writes a name both know."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, build_tiny_unigram

import twinbert
from twinbert.formats.resolve import SHIPPED_DIR
from twinbert.modules.trim import trim_to_folder
from twinbert.export import export_model

ST57_VENV = Path(os.environ.get("TWINBERT_ST57", REPO / ".venv-st57"))
ST57 = ST57_VENV / "bin" / "python"
TEXTS = ["한 남자가 기타를 치고 있다.", "the cat sat", "한국어 문장입니다. 한국어 문장입니다. " * 8, "привет мир", ""]
TOLERANCE = 1e-5

# runs in .venv-st57: {"folders": {name: [path, backend]}, "texts": [...]} on stdin -> versions and vectors
CHILD = """
import json, sys
import sentence_transformers, transformers
from sentence_transformers import SentenceTransformer
job = json.load(sys.stdin)
out = {"versions": [sentence_transformers.__version__, transformers.__version__], "vectors": {}}
for name, (path, backend) in job["folders"].items():
    try:
        model = SentenceTransformer(path, device="cpu", backend=backend, local_files_only=True)
        out["vectors"][name] = model.encode(job["texts"]).tolist()
    except Exception as e:
        out["vectors"][name] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """name -> (a folder twinbert wrote, the sentence-transformers backend to load it with). The tiny model
    has a SentencePiece Unigram tokenizer (the class transformers 5 saves as TokenizersBackend)."""
    root = tmp_path_factory.mktemp("compat")
    source = build_tiny_unigram(root / "source")
    model = twinbert.load(str(source), backend="torch")
    model.prompts, model.default_prompt_name = {"query": "query: ", "passage": "passage: "}, "query"
    model.save(root / "saved")
    export_model(str(root / "saved"), root / "exported", backend="onnx")
    trim_to_folder(twinbert.load(str(root / "saved"), backend="torch"), root / "trimmed", ("hangul",))
    return {"saved": (root / "saved", "torch"), "exported": (root / "exported", "torch"),
            "exported-onnx": (root / "exported", "onnx"), "trimmed": (root / "trimmed", "torch"),
            "ko-twinbert-small": (SHIPPED_DIR / "ko-twinbert-small", "torch")}


@pytest.fixture(scope="module")
def ours(written) -> dict[str, np.ndarray]:
    return {name: twinbert.load(str(path), backend="torch").encode(TEXTS) for name, (path, _) in written.items()}


def test_written_tokenizer_configs_name_a_class_transformers_4_knows(written):
    for name, (path, _) in written.items():
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert config["tokenizer_class"] == "PreTrainedTokenizerFast", name
        assert not {"max_length", "is_local", "local_files_only"} & set(config), name


def test_sentence_transformers_6_gives_twinberts_vectors(written, ours):
    st = pytest.importorskip("sentence_transformers")
    for name, (path, backend) in written.items():
        if backend != "torch":
            continue  # the ONNX backend of sentence-transformers 6: tests/runtime/test_export.py
        model = st.SentenceTransformer(str(path), device="cpu", backend=backend, local_files_only=True,
                                       model_kwargs={"dtype": "float32"})
        theirs = model.encode(TEXTS)
        assert np.abs(theirs - ours[name]).max() <= TOLERANCE, name


@pytest.mark.skipif(not (ST57_VENV / ".installed").is_file(), reason=f"{ST57_VENV} is missing or unfinished: "
                    "`make .venv-st57/.installed` builds it (sentence-transformers 5.7 + transformers 4.57)")
def test_sentence_transformers_5_7_with_transformers_4_57_gives_twinberts_vectors(written, ours):
    job = {"folders": {name: [str(path), backend] for name, (path, backend) in written.items()}, "texts": TEXTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([str(ST57), "-c", CHILD], input=json.dumps(job), env={**env, "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    st_version, tf_version = result["versions"]
    assert st_version.startswith("5.7.") and tf_version.startswith("4.57."), result["versions"]
    for name, vectors in result["vectors"].items():
        assert not isinstance(vectors, str), f"{name}: {vectors}"
        assert np.abs(np.array(vectors, dtype=np.float32) - ours[name]).max() <= TOLERANCE, name
