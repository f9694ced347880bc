"""The sentence-transformers runtime peers of benchmarks/encode.py, run in their own virtualenv
(/work/venvs/st-ov: sentence-transformers 5.7 with its onnx and openvino extras, which need optimum and
transformers 4.x) as a child process that takes one command a line on stdin and answers one JSON line:

    load NAME      build the configuration NAME (see CONFIGS), answer {"seconds": load time}
    run NAME       encode the sentences once, answer {"seconds": ...}; the vectors go to OUT/NAME.npy
    quit

So the parent alternates these configurations with its own in one run (fair under a shared CPU load).
    python benchmarks/st_peer.py MODEL_FOLDER SENTENCES.json OUT_FOLDER THREADS BATCH_SIZE
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path


def main() -> None:
    model_folder, sentences_file, out, threads, batch_size = sys.argv[1:6]
    import torch

    torch.set_num_threads(int(threads))
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model, \
        export_optimized_onnx_model

    sentences = json.loads(Path(sentences_file).read_text(encoding="utf-8"))
    out = Path(out)
    work = out / "st-peer-model"  # a copy: sentence-transformers writes its exported graphs beside the model
    if not work.exists():
        shutil.copytree(model_folder, work, ignore=shutil.ignore_patterns(".twinbert-compiled", "onnx", "openvino"))
    ort_options = {"provider": "CPUExecutionProvider"}
    models = {}

    def build(name: str):
        if name == "ST onnx fp32 (ORT fusions O2)":
            if not (work / "onnx" / "model_O2.onnx").is_file():
                export_optimized_onnx_model(SentenceTransformer(str(work), backend="onnx", device="cpu"), "O2", str(work))
            return SentenceTransformer(str(work), backend="onnx", device="cpu",
                                       model_kwargs={"file_name": "onnx/model_O2.onnx", **ort_options})
        if name == "ST onnx int8 dynamic per-channel (avx512_vnni)":
            if not (work / "onnx" / "model_qint8_avx512_vnni.onnx").is_file():
                export_dynamic_quantized_onnx_model(SentenceTransformer(str(work), backend="onnx", device="cpu"),
                                                    "avx512_vnni", str(work))
            return SentenceTransformer(str(work), backend="onnx", device="cpu",
                                       model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx", **ort_options})
        if name.startswith("ST openvino"):
            hint = "bf16" if "bf16" in name else "f32"
            return SentenceTransformer(str(work), backend="openvino", device="cpu",
                                       model_kwargs={"ov_config": {"INFERENCE_PRECISION_HINT": hint}})
        raise SystemExit(f"unknown configuration {name}")

    for line in sys.stdin:
        verb, _, name = line.strip().partition(" ")
        if verb == "quit":
            break
        start = time.perf_counter()
        if verb == "load":
            models[name] = build(name)
            models[name].encode(sentences[:64], batch_size=int(batch_size))
        else:
            vectors = models[name].encode(sentences, batch_size=int(batch_size))
        seconds = time.perf_counter() - start
        if verb == "run":
            import numpy as np

            np.save(out / (name.replace(" ", "_").replace("/", "-") + ".npy"), vectors)
        print(json.dumps({"seconds": seconds}), flush=True)


CONFIGS = ["ST onnx fp32 (ORT fusions O2)", "ST onnx int8 dynamic per-channel (avx512_vnni)", "ST openvino fp32",
           "ST openvino bf16"]

if __name__ == "__main__":
    main()
