"""Architecture rule of the backbone seam: backend names are compared only inside src/twinbert/runtime/backends/
(the registry and one file per backend). Anywhere else a backend is asked what it can do (supports, runs_on,
differentiable, graph) through twinbert.runtime.backends, so a new backend is one new file, not edits in every
place that once tested `backend == "onnx"`."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "twinbert"
BACKENDS_DIR = SRC / "runtime" / "backends"
NAMES = {"torch", "onnx", "onnxruntime", "openvino"}
# compared values that share a backend's name but are not backends: encode(convert_to="torch") asks for
# torch tensors
NOT_BACKENDS = {"convert_to"}


def _literals(node: ast.AST) -> set[str]:
    """The strings of a constant, or of a tuple / list / set of constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return {value for element in node.elts for value in _literals(element)}
    return set()


def name_comparisons(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, code) of every ==, !=, in or not in with a backend name literal on one side (match-case
    patterns of such a literal too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            named = [o for o in operands if _literals(o) & NAMES]
            others = {ast.unparse(o) for o in operands if o not in named}
            if named and not others <= NOT_BACKENDS:
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.MatchValue) and _literals(node.value) & NAMES:
            found.append((node.lineno, f"case {ast.unparse(node.value)}"))
    return found


def test_the_rule_finds_backend_name_comparisons():
    code = ('if backend == "onnx":\n    pass\n'
            'x = choice.backend != "torch"\n'
            'y = name in ("onnx", "openvino")\n'
            'z = "openvino" not in kinds\n'
            'match backend:\n    case "onnxruntime":\n        pass\n'
            'ok = convert_to == "torch"\n'
            'also_ok = backend == REFERENCE\n'
            'fine = backends.get("onnx")\n')
    assert [line for line, _ in name_comparisons(ast.parse(code))] == [1, 3, 4, 5, 7]


def test_backend_names_are_compared_only_in_the_backends_package():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if BACKENDS_DIR in path.parents:
            continue
        for line, code in name_comparisons(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(SRC.parent)}:{line}: {code}")
    assert not offenders, ("ask the backend through twinbert.runtime.backends (supports, runs_on, "
                           "is_reference, graph ...) instead of comparing its name:\n" + "\n".join(offenders))
