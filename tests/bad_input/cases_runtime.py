"""Bad input for the runtimes and `twinbert export`: a backend that cannot compute the precision asked
for names what to use instead, calibration files are checked before any work, and an export never
overwrites the model it exports nor a folder of the user's files."""
from __future__ import annotations

from pathlib import Path

from bad_input.cases import Case

R = "{root}/runtime"


def build(root: Path, tiny: Path) -> None:
    r = root / "runtime"
    r.mkdir()
    (r / "texts.txt").write_text("the cat sat\ni love paris\n", encoding="utf-8")
    (r / "blank.txt").write_text("\n  \n\n", encoding="utf-8")
    (r / "mine").mkdir()
    (r / "mine" / "notes.txt").write_text("my notes", encoding="utf-8")


def _kept(root: Path) -> None:
    assert (root / "runtime" / "mine" / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert not (root / "runtime" / "mine" / "onnx").exists()


def _absent(name: str):
    def check(root: Path) -> None:
        assert not (root / "runtime" / name).exists(), name
    return check


def _sim(*extra: str) -> tuple[str, ...]:
    return ("similarity", "--model", "{tiny}", "the cat", "a dog", *extra)


CASES = [
    Case("runtime-onnx-bf16", "similarity --backend onnx --precision bfloat16 (ONNX Runtime has no CPU bf16)",
         _sim("--backend", "onnx", "--precision", "bfloat16"), 2,
         "--precision 'bfloat16' is not computed by backend 'onnx'; use backend 'torch' or 'openvino' for bfloat16"),
    Case("runtime-torch-int8", "similarity --backend torch --precision int8",
         _sim("--backend", "torch", "--precision", "int8"), 2,
         "--precision 'int8' is not computed by backend 'torch'; use backend 'onnx' or 'openvino' for int8"),
    Case("runtime-unknown-backend", "similarity --backend tensorrt",
         _sim("--backend", "tensorrt"), 2, "argument --backend: invalid choice: 'tensorrt'"),
    Case("runtime-calibration-missing", "encode --precision int8 --calibration with a file that does not exist",
         ("encode", "--model", "{tiny}", "--input", f"{R}/texts.txt", "--output", f"{R}/c.npy", "--quiet",
          "--precision", "int8", "--calibration", f"{R}/nope.txt"), 2,
         "nope.txt: --calibration file not found", _absent("c.npy")),
    Case("runtime-calibration-not-int8", "encode --calibration FILE at float32 (calibration is for int8)",
         ("encode", "--model", "{tiny}", "--input", f"{R}/texts.txt", "--output", f"{R}/f.npy", "--quiet",
          "--calibration", f"{R}/texts.txt"), 2,
         "--calibration sentences are for precision='int8'; this load runs float32", _absent("f.npy")),
    Case("export-calibration-blank", "export --precision int8 --calibration FILE of blank lines",
         ("export", "{tiny}", f"{R}/int8", "--precision", "int8", "--calibration", f"{R}/blank.txt"), 2,
         "blank.txt: the --calibration file holds no sentences", _absent("int8")),
    Case("export-onnx-bf16", "export --backend onnx --precision bfloat16",
         ("export", "{tiny}", f"{R}/bf16", "--precision", "bfloat16"), 2,
         "--precision 'bfloat16' is not computed by backend 'onnx'; use backend openvino", _absent("bf16")),
    Case("export-over-the-model", "export a model into its own folder",
         ("export", "{tiny}", "{tiny}"), 2, "is the folder of the model being read"),
    Case("export-into-user-folder", "export into a folder of the user's own files (no --overwrite)",
         ("export", "{tiny}", f"{R}/mine"), 2, "not empty and not a model (it holds notes.txt); pass --overwrite",
         _kept),
]
