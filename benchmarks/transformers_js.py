"""transformers.js (`@huggingface/transformers`, npm) loads a folder written by `twinbert export` offline,
from its onnx/model.onnx, and gives twinbert's vectors (mean pooling, normalised).

    npm install --prefix /tmp/tjs @huggingface/transformers@4      # once, outside the repository
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/transformers_js.py --node-modules /tmp/tjs/node_modules

The model is exported to a temporary folder (ko-twinbert-small by default), node runs the feature-extraction
pipeline on it with remote models disabled, and the largest absolute difference to twinbert's own vectors
is printed with the versions. transformers.js applies no prompts, so the model's default prompt is put
before each text by hand on that side.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import twinbert
from twinbert.export import export_model

TEXTS = ["한 남자가 기타를 치고 있다.", "남자가 악기를 연주한다.", "A man is playing a guitar.",
         "대한민국의 수도는 서울이다. " * 30, ""]

NODE = """
import { env, pipeline } from '@huggingface/transformers';
import { readFileSync } from 'fs';
const job = JSON.parse(readFileSync(0, 'utf-8'));
env.allowRemoteModels = false;
env.localModelPath = job.root;
const extract = await pipeline('feature-extraction', job.name, { dtype: 'fp32' });
const out = await extract(job.texts, { pooling: 'mean', normalize: true });
const pkg = JSON.parse(readFileSync(job.pkg, 'utf-8'));
console.log(JSON.stringify({ version: pkg.version, vectors: out.tolist() }));
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ko-twinbert-small")
    p.add_argument("--node-modules", required=True, help="node_modules holding @huggingface/transformers")
    args = p.parse_args()
    modules = Path(args.node_modules).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        export_model(args.model, folder, backend="onnx")
        ours = twinbert.load(str(folder), backend="torch")
        prompt = ours.prompts.get(ours.default_prompt_name, "") if ours.default_prompt_name else ""
        expected = ours.encode(TEXTS)
        script = modules.parent / "twinbert_check.mjs"  # beside node_modules, so that imports resolve
        script.write_text(NODE, encoding="utf-8")
        job = {"root": tmp + "/", "name": "model", "texts": [prompt + t for t in TEXTS],
               "pkg": str(modules / "@huggingface" / "transformers" / "package.json")}
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(["node", str(script)], input=json.dumps(job), capture_output=True, text=True,
                              env=env, timeout=600)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        theirs = np.array(result["vectors"], dtype=np.float32)
        print(json.dumps({"model": args.model, "transformers.js": result["version"], "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True).stdout.strip(), "texts": len(TEXTS),
            "max_abs_diff": float(np.abs(theirs - expected).max()),
            "min_cosine": float((theirs * expected).sum(1).min())}))


if __name__ == "__main__":
    main()
