"""Architecture rules the code must keep: one place tokenizes (src/twinbert/modules/, the Transformer
module: the seam where a new tokenizer type or backend plugs in), so no other file calls a tokenizer."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "twinbert"
TOKENIZING_DIR = SRC / "modules"
# methods that turn text into ids on a transformers or tokenizers tokenizer
TOKENIZING_METHODS = {"encode", "encode_batch", "encode_plus", "batch_encode_plus", "tokenize", "__call__"}


def tokenizer_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, call) of every tokenizer call: `tokenizer(...)`, `x.tokenizer(...)`, any `.encode_batch(...)`,
    and `<something tokenizer-ish>.encode / .tokenize / ...(...)`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        text = ast.unparse(func)
        if isinstance(func, ast.Name) and func.id == "tokenizer":
            found.append((node.lineno, text))
        elif isinstance(func, ast.Attribute):
            receiver = ast.unparse(func.value).lower()
            if func.attr in ("tokenizer", "_tokenizer", "backend_tokenizer"):
                found.append((node.lineno, text))  # x.tokenizer(...)
            elif func.attr == "encode_batch" or (func.attr in TOKENIZING_METHODS and "tokenizer" in receiver):
                found.append((node.lineno, text))
    return found


def test_the_rule_finds_tokenizer_calls():
    code = ("a = enc.tokenizer(['x'])\nb = tok.backend_tokenizer.encode_batch(t)\nc = fast.encode_batch(t)\n"
            "d = self.tokenizer.encode('x')\ne = tokenizer('a')\nf = 'x'.encode('utf-8')\n"
            "g = transformer.tokenize(['x'])\nh = model.tokenizer.convert_ids_to_tokens([1])\n")
    assert [line for line, _ in tokenizer_calls(ast.parse(code))] == [1, 2, 3, 4, 5]


def test_only_the_modules_package_calls_a_tokenizer():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if TOKENIZING_DIR in path.parents:
            continue
        for line, call in tokenizer_calls(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(SRC.parent)}:{line}: {call}")
    assert not offenders, ("tokenize through Transformer.tokenize / pieces (src/twinbert/modules/transformer.py), "
                           "not here:\n" + "\n".join(offenders))
