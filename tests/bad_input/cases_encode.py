"""Bad input for encode, text files, arguments and the small commands (similarity, compare, features, eval
arguments): the output is never the input, every CSV/TSV record has the header's fields, counts are
positive, an input with no texts is one error, and what the user had stays as it was."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bad_input.cases import Case

E = "{root}/encode"
JSONL = '{"text": "the cat sat on the mat"}\n{"text": "i love paris"}\n'
STS = "sentence1,sentence2,score\n"


def build(root: Path, tiny: Path) -> None:
    e = root / "encode"
    e.mkdir()
    (e / "texts.txt").write_text("the cat sat\ni love paris\na dog is happy\n", encoding="utf-8")
    (e / "data.jsonl").write_text(JSONL, encoding="utf-8")
    os.symlink(e / "data.jsonl", e / "link.jsonl")
    os.link(e / "data.jsonl", e / "hard.jsonl")
    (e / "extra.csv").write_text("id,text\n1,the cat sat\n2,i love, paris\n", encoding="utf-8")
    (e / "tab.tsv").write_text("id\ttext\n1\tthe cat\tsat on the mat\n", encoding="utf-8")
    (e / "dup.csv").write_text("text,id,text\nthe cat,1,a dog\n", encoding="utf-8")
    (e / "dup.tsv").write_text("sentence1\tsentence1\tscore\nthe cat\ta dog\t3\n", encoding="utf-8")
    (e / "empty.txt").write_text("", encoding="utf-8")
    (e / "empty.csv").write_text("", encoding="utf-8")
    (e / "header-only.csv").write_text("id,text\n", encoding="utf-8")
    (e / "header-only.jsonl").write_text("", encoding="utf-8")
    (e / "sts-empty.csv").write_text(STS, encoding="utf-8")
    (e / "old-mac.txt").write_bytes(b"the cat sat\ri love paris\r\ra dog is happy\r")
    (e / "old-mac.csv").write_bytes(b"id,text\r1,the cat sat\r2,i love paris\r")
    (e / "blank.jsonl").write_text('{"text": "the cat"}\n\n{"text": "a dog"}\n', encoding="utf-8")
    # temp files a killed (SIGKILL) earlier encode left beside its output, and a file of the user's
    (e / ".stale.npy.0123abcd.tmp.npy").write_bytes(b"half written")
    (e / ".stale.npy.notes").write_text("mine", encoding="utf-8")


def _unchanged(name: str, text: str):
    def check(root: Path) -> None:
        assert (root / "encode" / name).read_text(encoding="utf-8") == text
        assert [p.name for p in (root / "encode").glob(f".{Path(name).name}.*.tmp*")] == []
    return check


def _absent(*names: str):
    def check(root: Path) -> None:
        for name in names:
            assert not (root / "encode" / name).exists(), name
    return check


def _rows(name: str, rows: int):
    def check(root: Path) -> None:
        assert np.load(root / "encode" / name).shape[0] == rows
    return check


def _stale_removed(root: Path) -> None:
    e = root / "encode"
    assert np.load(e / "stale.npy").shape[0] == 3
    assert not (e / ".stale.npy.0123abcd.tmp.npy").exists()  # left by the killed run: removed
    assert (e / ".stale.npy.notes").read_text(encoding="utf-8") == "mine"  # the user's: kept


def _enc(inp: str, out: str, *extra: str) -> tuple[str, ...]:
    return ("encode", "--model", "{tiny}", "--input", f"{E}/{inp}", "--output", f"{E}/{out}", "--quiet", *extra)


def _eval(*extra: str) -> tuple[str, ...]:
    return ("eval", "{tiny}", "--task", "sts", "--data", f"{E}/sts-empty.csv", *extra)


CASES = [
    Case("encode-output-is-input", "encode --output the input file itself",
         _enc("data.jsonl", "data.jsonl", "--column", "text"), 2, "is the input file", _unchanged("data.jsonl", JSONL)),
    Case("encode-output-is-input-other-path", "encode --output the input by another path (dir/../dir/X)",
         _enc("data.jsonl", "../encode/data.jsonl", "--column", "text"), 2, "is the input file",
         _unchanged("data.jsonl", JSONL)),
    Case("encode-output-is-input-symlink", "encode --output a symlink to the input",
         _enc("data.jsonl", "link.jsonl", "--column", "text"), 2, "is the input file",
         _unchanged("data.jsonl", JSONL)),
    Case("encode-output-is-input-hard-link", "encode --output a hard link to the input",
         _enc("data.jsonl", "hard.jsonl", "--column", "text"), 2, "is the input file",
         _unchanged("hard.jsonl", JSONL)),
    Case("encode-csv-extra-field", "encode a CSV row with more fields than the header",
         _enc("extra.csv", "extra.npy", "--column", "text"), 2,
         "extra.csv, line 3: 3 fields, expected 2 as in the header (id, text)", _absent("extra.npy")),
    Case("encode-tsv-tab-in-text", "encode a TSV text holding a tab (was silently cut at the tab)",
         _enc("tab.tsv", "tab.npy", "--column", "text"), 2, "tab.tsv, line 2: 3 fields, expected 2",
         _absent("tab.npy")),
    Case("encode-csv-duplicate-header", "encode a CSV whose header names a column twice",
         _enc("dup.csv", "dup.npy", "--column", "text"), 2,
         "dup.csv, line 1: column 'text' appears 2 times in the header", _absent("dup.npy")),
    Case("eval-tsv-duplicate-header", "eval a TSV file whose header names a column twice",
         ("eval", "{tiny}", "--task", "sts", "--data", f"{E}/dup.tsv"), 2,
         "dup.tsv, line 1: column 'sentence1' appears 2 times in the header"),
    Case("encode-csv-without-column", "encode a .csv file without --column",
         _enc("extra.csv", "nc.npy"), 2, "extra.csv: a .csv file needs --column=NAME, the field that holds the text"),
    Case("encode-txt-with-column", "encode a .txt file with --column",
         _enc("texts.txt", "tc.npy", "--column", "text"), 2, "texts.txt: --column applies to .csv, .tsv and .jsonl"),
    Case("encode-chunk-rows-zero", "encode --chunk-rows 0", _enc("texts.txt", "c.npy", "--chunk-rows", "0"), 2,
         "argument --chunk-rows: expected a positive integer (1 or more), got 0", _absent("c.npy")),
    Case("encode-batch-tokens-negative", "encode --batch-tokens -5",
         _enc("texts.txt", "b.npy", "--batch-tokens", "-5"), 2, "argument --batch-tokens: expected a positive integer"),
    Case("eval-limit-zero", "eval --limit 0", _eval("--limit", "0"), 2,
         "argument --limit: expected a positive integer (1 or more), got 0"),
    Case("sweep-batch-tokens-zero", "sweep --batch-tokens 0",
         ("sweep", "{tiny}", "--task", "sts", "--data", f"{E}/sts-empty.csv", "--batch-tokens", "0"), 2,
         "argument --batch-tokens: expected a positive integer (1 or more), got 0"),
    Case("features-pad-to-zero", "features --pad-to 0", ("features", "--model", "{tiny}", "a", "--pad-to", "0"),
         2, "argument --pad-to: expected a positive integer (1 or more), got 0"),
    Case("compare-empty-poolings", "compare --poolings ','",
         ("compare", "a", "b", "--models", "{tiny}", "--poolings", ","), 2,
         "--poolings is empty: expected one or more of cls, mean, max"),
    Case("features-save-not-npz", "features --save f.txt (it would have been a .npz archive named .txt)",
         ("features", "--model", "{tiny}", "a", "--save", f"{E}/f.txt"), 2,
         "f.txt: features are saved as a .npz archive; give a file name ending in .npz", _absent("f.txt")),
    Case("encode-empty-txt", "encode an empty .txt file", _enc("empty.txt", "e1.npy"), 2,
         "empty.txt: no texts to encode", _absent("e1.npy")),
    Case("encode-empty-csv", "encode an empty (0-byte) .csv file", _enc("empty.csv", "e2.npy", "--column", "text"),
         2, "empty.csv: no texts to encode", _absent("e2.npy")),
    Case("encode-header-only-csv", "encode a .csv file with a header and no rows",
         _enc("header-only.csv", "e3.npy", "--column", "text"), 2, "header-only.csv: no texts to encode",
         _absent("e3.npy")),
    Case("encode-empty-jsonl", "encode an empty .jsonl file", _enc("header-only.jsonl", "e4.jsonl", "--column", "text"),
         2, "header-only.jsonl: no texts to encode", _absent("e4.jsonl")),
    Case("eval-empty-data", "eval a data file with a header and no rows", _eval(), 2, "sts-empty.csv: no rows"),
    Case("similarity-no-sentences", "similarity with no sentences", ("similarity", "--model", "{tiny}"), 2,
         "the following arguments are required: sentences"),
    Case("encode-old-mac-line-endings", "encode a .txt file with CR-only (old Mac) line endings: 4 lines",
         _enc("old-mac.txt", "mac.npy"), 0, "", _rows("mac.npy", 4)),
    Case("encode-old-mac-csv", "encode a .csv file with CR-only line endings",
         _enc("old-mac.csv", "mac-csv.npy", "--column", "text"), 0, "", _rows("mac-csv.npy", 2)),
    Case("encode-jsonl-blank-line", "encode a .jsonl file with a blank line: an empty text, row i = line i",
         _enc("blank.jsonl", "blank.npy", "--column", "text"), 0, "", _rows("blank.npy", 3)),
    Case("encode-removes-stale-temps", "encode over temp files a killed earlier run left beside the output",
         _enc("texts.txt", "stale.npy"), 0, "", _stale_removed),
]
