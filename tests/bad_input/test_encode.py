"""Bad input for encode and its neighbours, through the library: the output is never the input, text files
never lose or shift a text, every argument of the wrong type or value is an InputError naming it, an
interrupted or killed encode leaves the previous output and no temp file, a 5 MB line costs what a normal
line costs. The CLI side is in cases_encode.py (run by test_table.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import cli_env

import twinbert
from twinbert.encode_file import encode_file
from twinbert.errors import InputError, OutputError
from twinbert.formats.texts import read_texts

TEXTS = ["the cat sat on the mat .", "", "i love paris", "a dog is happy", "the man ran in the park"]


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu")


def _temps(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.glob(f".{name}.*"))


# ------------------------------------------------------------------------- item 4: output = input
@pytest.mark.parametrize("how", ["same", "dot", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused_before_writing(tiny, tmp_path, how):
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "the cat"}\n{"text": "a dog"}\n', encoding="utf-8")
    before = data.read_bytes()
    out = {"same": data, "dot": tmp_path / "." / ".." / tmp_path.name / "data.jsonl",
           "symlink": tmp_path / "link.jsonl", "hardlink": tmp_path / "hard.jsonl"}[how]
    if how == "symlink":
        out.symlink_to(data)
    elif how == "hardlink":
        os.link(data, out)
    with pytest.raises(OutputError, match="is the input file"):
        encode_file(tiny, data, out, column="text", show_progress=False)
    assert data.read_bytes() == before and _temps(tmp_path, "data.jsonl") == []


# -------------------------------------------------------------------- item 5: CSV / TSV records
@pytest.mark.parametrize("name,data,message", [
    ("more.csv", "id,text\n1,the cat\n2,i love, paris\n", "line 3: 3 fields, expected 2 as in the header (id, text)"),
    ("fewer.csv", "id,text,lang\n1,the cat,en\n2,a dog\n", "line 3: 2 fields, expected 3"),
    ("tab.tsv", "id\ttext\n1\tthe cat\tsat\n", "line 2: 3 fields, expected 2"),
    ("fewer.tsv", "id\ttext\tlang\n1\tthe cat\n", "line 2: 2 fields, expected 3"),
    ("multi.csv", 'id,text\n1,"two\nlines"\n2,a,b\n', "line 4: 3 fields"),  # the line a record starts on
    ("dup.csv", "text,id,text\na,1,b\n", "line 1: column 'text' appears 2 times in the header"),
    ("dup.tsv", "text\ttext\na\tb\n", "line 1: column 'text' appears 2 times in the header"),
])
def test_table_records_must_match_the_header(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_text(data, encoding="utf-8")
    with pytest.raises(InputError) as e:
        list(read_texts(path, "text"))
    assert str(e.value).startswith(f"{path}, ") and message in str(e.value)


def test_well_formed_tables_still_read(tmp_path):
    (tmp_path / "ok.csv").write_text('id,text\n1,"a, b"\n\n2,""\n3,"two\nlines"\n', encoding="utf-8")
    (tmp_path / "ok.tsv").write_text('id\ttext\n1\t"quoted"\n\n2\t\n', encoding="utf-8")
    assert list(read_texts(tmp_path / "ok.csv", "text")) == ["a, b", "", "two\nlines"]
    assert list(read_texts(tmp_path / "ok.tsv", "text")) == ['"quoted"', ""]


@pytest.mark.parametrize("name,data", [
    ("dup.csv", "sentence1,sentence2,sentence1,score\na,b,c,1\n"),
    ("dup.tsv", "sentence1\tsentence2\tscore\tscore\na\tb\t1\t2\n"),
])
def test_data_readers_refuse_duplicate_header_names(tmp_path, name, data):
    from twinbert.data.generic import read_pairs

    path = tmp_path / name
    path.write_text(data, encoding="utf-8")
    with pytest.raises(InputError, match=r", line 1: column '(sentence1|score)' appears 2 times in the header"):
        read_pairs(path, ("sentence1", "sentence2", "score"))


# ------------------------------------------------------------------- line endings and blank lines
@pytest.mark.parametrize("name,data,column,expected", [
    ("mac.txt", b"the cat\ri love paris\r\ra dog\r", None, ["the cat", "i love paris", "", "a dog"]),
    ("mixed.txt", b"a\r\nb\rc\n", None, ["a", "b", "c"]),
    ("mac.csv", b"id,text\r1,the cat\r2,a dog\r", "text", ["the cat", "a dog"]),
    ("mac.tsv", b"id\ttext\r1\tthe cat\r2\ta dog", "text", ["the cat", "a dog"]),
    ("mac.jsonl", b'{"text": "the cat"}\r{"text": "a dog"}\r', "text", ["the cat", "a dog"]),
    ("blank.jsonl", b'{"text": "the cat"}\n\n{"text": "a dog"}\n', "text", ["the cat", "", "a dog"]),
])
def test_cr_line_endings_and_blank_jsonl_lines(tmp_path, name, data, column, expected):
    path = tmp_path / name
    path.write_bytes(data)
    assert list(read_texts(path, column)) == expected


def test_cr_lf_split_across_read_blocks(tmp_path, monkeypatch):
    from twinbert.formats import texts

    monkeypatch.setattr(texts, "_BLOCK", 2)
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"a\r\nbc\r\n\r\nd\re")
    assert list(read_texts(path)) == ["a", "bc", "", "d", "e"]


def test_jsonl_output_row_i_is_input_line_i(tiny, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "the cat"}\n\n{"text": "a dog"}\n', encoding="utf-8")
    encode_file(tiny, path, tmp_path / "out.npy", column="text", show_progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), tiny.encode(["the cat", "", "a dog"]), atol=1e-6)


# ----------------------------------------------------------------------------- argument checks
@pytest.mark.parametrize("kwargs,argument", [
    ({"layers": 1.5}, "layers"), ({"layers": [1, "x"]}, "layers"), ({"normalize": "no"}, "normalize"),
    ({"batch_tokens": 0}, "batch_tokens"), ({"batch_tokens": -3}, "batch_tokens"),
    ({"batch_tokens": "64"}, "batch_tokens"), ({"output": "tokens"}, "output"), ({"convert_to": "list"}, "convert_to"),
    ({"pooling": 3}, "pooling"), ({"pooling": ["cls", 3]}, "pooling"), ({"precision": "fp8"}, "precision"),
    ({"show_progress": "yes"}, "show_progress"),
])
def test_encode_arguments_of_the_wrong_type_or_value(tiny, kwargs, argument):
    with pytest.raises(InputError) as e:
        tiny.encode(TEXTS, **kwargs)
    assert e.value.argument == argument and argument in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("texts,message", [
    ({"a": 1}, "texts must be a str or an iterable of str, got dict"),
    (42, "texts must be a str or an iterable of str, got int"),
    (["a", 3], r"texts\[1\] is int, expected str"),
])
def test_encode_texts_of_the_wrong_type(tiny, texts, message):
    with pytest.raises(InputError, match=message):
        tiny.encode(texts)


def test_any_iterable_of_texts_is_accepted(tiny):
    expected = tiny.encode(TEXTS)
    np.testing.assert_allclose(tiny.encode(t for t in TEXTS), expected, atol=1e-6)
    np.testing.assert_allclose(tiny.encode(tuple(TEXTS)), expected, atol=1e-6)
    chunks = list(tiny.encode_stream(iter(TEXTS), chunk_rows=2, show_progress=False))
    assert [len(c) for c in chunks] == [2, 2, 1]
    np.testing.assert_allclose(np.concatenate(chunks), expected, atol=1e-6)


@pytest.mark.parametrize("kwargs,argument", [
    ({"chunk_rows": 0}, "chunk_rows"), ({"chunk_rows": 2.5}, "chunk_rows"), ({"batch_tokens": 0}, "batch_tokens"),
    ({"show_progress": "no"}, "show_progress"), ({"normalize": 1}, "normalize"),
])
def test_encode_stream_checks_its_arguments_before_any_work(tiny, kwargs, argument):
    with pytest.raises(InputError) as e:
        tiny.encode_stream(TEXTS, **kwargs)  # at the call, not at the first next()
    assert e.value.argument == argument


def test_encode_file_chunk_rows_zero_writes_nothing(tiny, tmp_path):
    (tmp_path / "in.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        encode_file(tiny, tmp_path / "in.txt", tmp_path / "out.npy", chunk_rows=0, show_progress=False)
    assert e.value.argument == "chunk_rows"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


@pytest.mark.parametrize("device,message", [("gpu", "unknown device 'gpu'"), (3, "device must be a str")])
def test_load_unknown_device(tiny_bert, device, message):
    with pytest.raises(InputError, match=message):
        twinbert.load(str(tiny_bert), device=device)


@pytest.mark.parametrize("a,b,argument", [
    ("the cat", "a dog", "a"), (["the cat", "a dog"], None, "a"), (np.ones(4), {"x": 1}, "b"),
    ([[1.0, 2.0], [3.0]], None, "a"), (None, None, "a"), ([], None, "a"),
])
def test_similarity_of_non_vectors(a, b, argument):
    with pytest.raises(InputError) as e:
        twinbert.similarity(a, b)
    assert e.value.argument == argument and str(e.value).startswith(f"{argument} ")


def test_similarity_argument_checks():
    with pytest.raises(InputError, match="unknown metric 'l2'"):
        twinbert.similarity(np.ones((2, 3)), metric="l2")
    with pytest.raises(InputError) as e:
        twinbert.similarity(np.ones((2, 3)), pairwise="yes")
    assert e.value.argument == "pairwise"
    assert twinbert.similarity(np.ones((0, 3)), np.ones((2, 3))).shape == (0, 2)  # no vectors is fine


def test_compare_poolings(tiny):
    from twinbert.compare import compare

    with pytest.raises(InputError) as e:
        compare({"m": tiny}, ["a", "b"], [])
    assert e.value.argument == "poolings" and "poolings is empty" in str(e.value)
    assert [c["pooling"] for c in compare({"m": tiny}, ["a", "b"], "mean")["columns"]] == ["mean"]  # not m, e, a, n


def test_features_save_refuses_a_non_npz_name(tiny, tmp_path):
    from twinbert.bert import features

    f = features(tiny, ["the cat"])
    with pytest.raises(OutputError, match=r"f.txt: features are saved as a .npz archive"):
        f.save(tmp_path / "f.txt")
    assert list(tmp_path.iterdir()) == []
    assert np.load(f.save(tmp_path / "f.npz"))["cls"].shape == (1, 32)
    with pytest.raises(InputError) as e:
        features(tiny, ["the cat"], batch_tokens=0)
    assert e.value.argument == "batch_tokens"


# ---------------------------------------------------------------------------------- empty input
def test_encode_of_no_texts_is_an_empty_array(tiny):
    assert tiny.encode([]).shape == (0, 32) and tiny.encode([]).dtype == np.float32
    assert tiny.encode([], output="all_layers").shape == (0, 3, 32)
    assert tiny.encode([], output="token") == []
    assert tiny.encode([], convert_to="torch").shape == (0, 32)
    assert list(tiny.encode_stream([], show_progress=False)) == []


# ------------------------------------------------------------------------------- a 5 MB line
def test_a_huge_line_is_cut_before_tokenizing(tiny):
    line = ("the cat sat on the mat . " * 200_001)[:5_000_000]
    transformer = tiny.transformer
    transformer.tokenize([line])  # warm up
    start = time.perf_counter()
    cut = transformer.tokenize([line, "a dog"])
    assert time.perf_counter() - start < 1.0
    full = transformer._fast.encode_batch([line, "a dog"])  # the normal truncation of the whole line
    assert cut.input_ids == [e.ids for e in full] and cut.token_type_ids == [e.type_ids for e in full]
    assert cut.truncated == 1


def test_cut_texts_keep_exact_ids_in_awkward_cases(tiny, monkeypatch):
    """A text cut to its character budget but holding fewer tokens than the limit (runs of spaces) is
    tokenized whole; a cut never splits a word; the truncation count stays right."""
    from twinbert.modules import transformer as module

    transformer = tiny.transformer
    texts = [" " * 5000 + "the dog", "cat" * 3000, "happy " * 800 + "dog", "a dog"]
    pairs = ["the cat " * 600, "i", "paris", "a cat"]
    monkeypatch.setattr(module, "CHARS_PER_TOKEN", 10**9)
    whole, whole_pairs = transformer.tokenize(texts), transformer.tokenize(texts, pairs)
    monkeypatch.setattr(module, "CHARS_PER_TOKEN", 4)
    assert transformer.tokenize(texts) == whole and whole.truncated == 1
    assert transformer.tokenize(texts, pairs) == whole_pairs


# ------------------------------------------------------------------- tables with wide characters
def test_table_aligns_wide_characters():
    from twinbert.cli.common import table, width

    text = table([["안녕하세요", "0.5"], ["hello", "0.25"], ["猫が好き", "1"]], ["sentence", "score"])
    lines = text.splitlines()
    assert len({width(line) for line in lines}) == 1, text
    assert width("안녕") == 4 and width("e\u0301") == 1


# --------------------------------------------------------------------- interrupts and temp files
def test_an_interrupt_stops_the_worker_threads(monkeypatch):
    """Ctrl-C / SIGTERM land in the main thread: no worker may keep running torch after the raise."""
    from twinbert.batching import run_batches

    class Interrupted(Exception):
        pass

    def raise_interrupted(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGUSR1, raise_interrupted)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    calls = []

    def work(index, batch):
        calls.append(1)
        time.sleep(0.02)

    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(Interrupted):
            run_batches([[1, 2]] * 2000, None, 0, work, batch_tokens=2)
        done = len(calls)
        assert not [t for t in threading.enumerate() if t.name.startswith("twinbert-batch") and t.is_alive()]
        time.sleep(0.1)
        assert len(calls) == done < 2000
        assert torch.get_num_threads() == 2
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
        torch.set_num_threads(torch_threads)


SLOW_MAIN = textwrap.dedent("""
    import signal, sys, time
    # Ctrl-C as in a terminal: a test run started in the background (no job control) hands its children
    # SIGINT ignored, and Python keeps an ignored SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from twinbert.modules.transformer import Transformer
    forward = Transformer.forward
    def slow_forward(self, *args, **kwargs):  # a slow model, so the signal lands mid-encoding
        time.sleep(0.05)
        return forward(self, *args, **kwargs)
    Transformer.forward = slow_forward
    from twinbert.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("sig,rc,word,suffix", [(signal.SIGINT, 130, "interrupted", ".npy"),
                                                (signal.SIGTERM, 143, "terminated", ".jsonl")])
def test_signal_during_encode(tiny_bert, tmp_path, sig, rc, word, suffix):
    texts = tmp_path / "in.txt"
    texts.write_text("".join(f"the cat sat on the mat number {k} .\n" for k in range(3000)), encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    out.write_bytes(b"previous results")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_MAIN, "encode", "--model", str(tiny_bert), "--input",
                             str(texts), "--output", str(out), "--chunk-rows", "100", "--batch-tokens", "64",
                             "--quiet"], env=cli_env(tmp_path / "hf"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 180
        while not _temps(tmp_path, out.name) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _temps(tmp_path, out.name), "encoding never started writing"
        time.sleep(0.3)  # well inside the batches, on the worker threads
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == rc, stderr
    assert stderr == f"twinbert encode: {word}\n" and stdout == ""
    assert out.read_bytes() == b"previous results"
    assert _temps(tmp_path, out.name) == []


def test_temp_files_of_a_killed_run_are_removed_by_the_next(tiny, tmp_path):
    (tmp_path / "in.txt").write_text("the cat\na dog\n", encoding="utf-8")
    stale = [".out.npy.0123abcd.tmp.npy", ".out.npy.89abcdef.tmp"]
    kept = [".out.npy.mine", ".out.npy.0123abcd.tmp.npy.bak", ".other.npy.0123abcd.tmp.npy", "out.npy.0123abcd.tmp"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    encode_file(tiny, tmp_path / "in.txt", tmp_path / "out.npy", show_progress=False)
    assert np.load(tmp_path / "out.npy").shape == (2, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["in.txt", "out.npy"])
