"""Bad input, end to end: every failure is one clear error that names the culprit, through the
library (exception class + message) and through the CLI (exit code 2, one line on stderr, no
partial output file and no temp file left behind, an existing output left untouched).

The CLI cases run in one child process (see run_cli_batch): each one is `python -m twinbert ARGS`
executed with runpy, so the whole entry point (argument parsing, error handling, exit code) is
exercised without paying the torch/transformers import once per case. One case also runs as a
real `python -m twinbert` process to check the exit status the shell sees.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import VOCAB, build_tiny_bert

import twinbert
from twinbert.encode_file import encode_file
from twinbert.errors import InputError, ModelLoadError, OutputError
from twinbert.formats.texts import count_texts, read_texts

HUB_ID = "someone/not-a-real-model-xyz"
TEXTS = ["the cat sat on the mat .", "", "i love paris", "a dog is happy", "the man ran in the park"]

from cli_runner import cli_env, run_cli_batch  # noqa: E402


# ----------------------------------------------------------------------------------------- fixtures
def _copy(tiny: Path, dest: Path) -> Path:
    shutil.copytree(tiny, dest)
    return dest


def _bigger_vocab(folder: Path, extra: int = 20) -> int:
    """Give `folder` a tokenizer with `extra` more tokens than its embedding matrix has rows."""
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / f).unlink(missing_ok=True)
    words = VOCAB + [f"extra{k}" for k in range(extra)]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    return len(words)


@pytest.fixture(scope="module")
def bad(tiny_bert, tmp_path_factory):
    """Broken model folders and bad input files, built once for the module."""
    root = tmp_path_factory.mktemp("bad")
    d = {"root": root, "tiny": tiny_bert, "missing": root / "no-such-model"}
    weights = (tiny_bert / "model.safetensors").read_bytes()
    d["garbage"] = _copy(tiny_bert, root / "garbage")
    (d["garbage"] / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    d["truncated"] = _copy(tiny_bert, root / "truncated")
    (d["truncated"] / "model.safetensors").write_bytes(weights[:len(weights) // 2])
    d["bigvocab"] = _copy(tiny_bert, root / "bigvocab")
    d["vocab_size"] = _bigger_vocab(d["bigvocab"])
    d["rows"] = json.loads((tiny_bert / "config.json").read_text())["vocab_size"]
    d["unknown_type"] = _copy(tiny_bert, root / "unknown-type")
    config = json.loads((tiny_bert / "config.json").read_text())
    (d["unknown_type"] / "config.json").write_text(json.dumps({**config, "model_type": "not-a-model"}))
    d["ok_txt"] = root / "ok.txt"
    d["ok_txt"].write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    d["bad_utf8"] = root / "bad.txt"
    d["bad_utf8"].write_bytes(b"first line\nsecond line\nthird \xff\xfe line\nfourth\n")
    d["csv"] = root / "in.csv"
    d["csv"].write_text("id,text\n1,hello\n2,world\n", encoding="utf-8")
    d["tsv"] = root / "in.tsv"
    d["tsv"].write_text("id\ttext\n1\thello\n2\tworld\n", encoding="utf-8")
    d["jsonl"] = root / "in.jsonl"
    d["jsonl"].write_text('{"text": "hello"}\n{"body": "world"}\n', encoding="utf-8")
    return d


# ---------------------------------------------------------------------------- library: model loading
def test_missing_model_folder(bad):
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(bad["missing"]))
    assert str(bad["missing"]) in str(e.value) and "not found" in str(e.value)


def test_model_path_that_is_a_file(bad):
    with pytest.raises(ModelLoadError, match="is a file"):
        twinbert.load(str(bad["ok_txt"]))


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_corrupt_or_truncated_safetensors_names_the_file(bad, kind):
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(bad[kind]))
    message = str(e.value)
    assert message.startswith(str(bad[kind] / "model.safetensors") + ":")
    assert "corrupt or truncated" in message and "\n" not in message


def test_safetensors_cut_after_a_complete_header_is_still_caught(bad, tmp_path):
    """Keep the header intact and drop only the tail of the tensor data."""
    folder = _copy(bad["tiny"], tmp_path / "tail")
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[:-100])
    with pytest.raises(ModelLoadError, match="model.safetensors: corrupt or truncated"):
        twinbert.load(str(folder))


@pytest.fixture(scope="module")
def bin_only(tiny_bert, tmp_path_factory):
    """The tiny BERT with its weights as pytorch_model.bin only (a torch.save'd state dict, what
    save_pretrained(safe_serialization=False) wrote before transformers 5 dropped that option)."""
    import safetensors.torch
    import torch

    folder = _copy(tiny_bert, tmp_path_factory.mktemp("bin") / "bert")
    torch.save(safetensors.torch.load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_bin_only_checkpoint_matches_safetensors(tiny_bert, bin_only):
    assert (bin_only / "pytorch_model.bin").is_file() and not (bin_only / "model.safetensors").exists()
    from_bin = twinbert.load(str(bin_only), device="cpu").encode(TEXTS)
    from_st = twinbert.load(str(tiny_bert), device="cpu").encode(TEXTS)
    assert from_bin.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(from_bin, from_st, atol=1e-6, rtol=0)


def test_truncated_bin_names_the_file(bin_only, tmp_path):
    folder = _copy(bin_only, tmp_path / "cut")
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(folder))
    assert str(e.value).startswith(str(folder / "pytorch_model.bin") + ": corrupt or truncated")


def test_shard_index_with_missing_shard(bad, tmp_path):
    folder = _copy(bad["tiny"], tmp_path / "sharded")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}))
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(folder))
    assert "model-00001-of-00002.safetensors" in str(e.value) and "missing" in str(e.value)


def test_vocab_txt_bigger_than_embedding_matrix(bad):
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(bad["bigvocab"]))
    message = str(e.value)
    assert str(bad["bigvocab"]) in message
    assert f"{bad['vocab_size']} tokens" in message and f"{bad['rows']} rows" in message


def test_tokenizer_json_bigger_than_embedding_matrix(bad, tmp_path):
    from transformers import BertTokenizerFast

    folder = _copy(bad["tiny"], tmp_path / "bigjson")
    words = VOCAB + [f"more{k}" for k in range(7)]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab=str(tmp_path / "vocab.txt"), do_lower_case=True).save_pretrained(str(folder))
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(folder))
    assert f"{len(words)} tokens" in str(e.value) and f"{bad['rows']} rows" in str(e.value)


def test_unknown_model_type(bad):
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(bad["unknown_type"]))
    assert str(e.value).startswith(f"{bad['unknown_type']}: transformers cannot build the model")
    assert "not-a-model" in str(e.value)


_TRANSFORMER = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}


@pytest.mark.parametrize("modules,pooling_config,expected", [
    ("{oops", None, "modules.json: unreadable JSON"),
    (["0_Transformer"], None, "modules.json: module 0 is str, expected an object"),
    ({"0": _TRANSFORMER}, None, "modules.json: expected a list of modules"),
    ([_TRANSFORMER, {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], None,
     "1_Pooling: the Pooling module folder listed in modules.json (module 1) is missing"),
    ([_TRANSFORMER, {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
     {"pooling_mode": "avg"}, "1_Pooling/config.json: unknown pooling 'avg'"),
    ([_TRANSFORMER, {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
     {"word_embedding_dimension": 32}, "1_Pooling/config.json: no pooling mode set"),
    ([_TRANSFORMER, {"path": "2_Custom", "type": "my_package.Reranker"}], None, "module 1 has type 'my_package.Reranker'"),
])
def test_broken_modules_json(bad, tmp_path, modules, pooling_config, expected):
    folder = _copy(bad["tiny"], tmp_path / "st")
    (folder / "modules.json").write_text(modules if isinstance(modules, str) else json.dumps(modules))
    if pooling_config is not None:
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(str(folder))
    assert str(e.value).startswith(str(folder) + "/") and expected in str(e.value)


def _point_hub_cache_at(monkeypatch, hf_home: Path) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hf_home / "hub"))


def test_offline_hub_id_not_cached_says_what_to_do(monkeypatch, tmp_path):
    _point_hub_cache_at(monkeypatch, tmp_path / "hf")
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(HUB_ID)
    message = str(e.value)
    assert message.startswith(HUB_ID + ":")
    assert "offline" in message and f"hf download {HUB_ID} --local-dir" in message


def test_offline_hub_id_in_the_cache_loads(monkeypatch, tmp_path, tiny_bert):
    """The control for the test above: offline, a cached id resolves to its snapshot."""
    _point_hub_cache_at(monkeypatch, tmp_path / "hf")
    repo = tmp_path / "hf" / "hub" / "models--someone--cached-tiny"
    commit = "0" * 40
    shutil.copytree(tiny_bert, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    enc = twinbert.load("someone/cached-tiny", device="cpu")
    assert enc.name == "someone/cached-tiny"
    np.testing.assert_allclose(enc.encode(TEXTS[:2]), twinbert.load(str(tiny_bert)).encode(TEXTS[:2]), atol=1e-6)


# ----------------------------------------------------------------------- library: pooling and layers
@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu")


def test_unknown_pooling(tiny, tiny_bert):
    with pytest.raises(InputError, match=r"unknown pooling 'median': expected one of cls, mean, max"):
        tiny.encode(TEXTS, pooling="median")
    with pytest.raises(InputError, match=r"unknown pooling 'bogus'"):
        tiny.encode(TEXTS, pooling="cls+bogus")
    with pytest.raises(InputError, match=r"unknown pooling 'avg'"):
        twinbert.load(str(tiny_bert), pooling="avg")


@pytest.mark.parametrize("layers,bad_layer", [(3, 3), (-4, -4), ([1, 7], 7), ("5", 5), ("0,-9", -9)])
def test_out_of_range_layer(tiny, layers, bad_layer):
    with pytest.raises(InputError) as e:
        tiny.encode(TEXTS, layers=layers)
    assert f"layer {bad_layer} does not exist" in str(e.value) and "0..2" in str(e.value)


@pytest.mark.parametrize("layers", ["top", "1;2", "first,last"])
def test_unknown_layer_spec(tiny, layers):
    with pytest.raises(InputError, match=rf"unknown layers '{layers}'"):
        tiny.encode(TEXTS, layers=layers)


def test_layer_bounds_that_exist_are_accepted(tiny):
    """The control for the range checks: 0 (embeddings), 2 (last), -3 (= 0) all work."""
    last = tiny.encode(TEXTS)
    np.testing.assert_allclose(tiny.encode(TEXTS, layers=2), last, atol=1e-6)
    np.testing.assert_allclose(tiny.encode(TEXTS, layers=-3), tiny.encode(TEXTS, layers=0), atol=1e-6)
    assert not np.allclose(tiny.encode(TEXTS, layers=0), last)


def test_pooler_on_a_model_without_pooler(tmp_path):
    enc = twinbert.load(str(build_tiny_bert(tmp_path / "nopool", with_pooler=False)), device="cpu")
    with pytest.raises(InputError, match="no trained pooler"):
        enc.encode(TEXTS, pooling="pooler")


# ------------------------------------------------------------------------------ library: input files
@pytest.mark.parametrize("suffix,column,data", [
    (".txt", None, b"ok\nfine\n\xe9t\xe9\nmore\n"),
    (".csv", "text", b"text\nok\n\xff\xfe\n"),
    (".tsv", "text", b"text\nok\n\xc3\n"),
    (".jsonl", "text", b'{"text": "ok"}\n{"text": "also"}\n{"text": "\x80"}\n'),
])
def test_non_utf8_names_file_and_line(tmp_path, suffix, column, data):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(data)
    with pytest.raises(InputError) as e:
        count_texts(path, column)
    assert str(e.value).startswith(f"{path}, line 3: not valid UTF-8")


@pytest.mark.parametrize("suffix,data,expected", [
    (".csv", "id,text\n1,a\n", "line 1: no column 'body' (columns: id, text)"),
    (".tsv", "id\ttext\n1\ta\n", "line 1: no column 'body' (columns: id, text)"),
    (".jsonl", '{"body": "a"}\n{"text": "b"}\n', "line 2: no field 'body' (found: text)"),
])
def test_missing_column(tmp_path, suffix, data, expected):
    path = tmp_path / f"in{suffix}"
    path.write_text(data, encoding="utf-8")
    with pytest.raises(InputError) as e:
        list(read_texts(path, "body"))
    assert str(e.value) == f"{path}, {expected}"


@pytest.mark.parametrize("suffix,data,expected", [
    (".csv", "id,text\n1,a\n2\n", "line 3: 1 fields, expected 2 as in the header (id, text)"),
    (".tsv", "id\ttext\n1\ta\n2\n", "line 3: 1 fields, expected 2 as in the header (id, text)"),
    (".jsonl", '{"text": "a"}\n{"text": 3}\n', "line 2: field 'text' is int, expected text"),
    (".jsonl", '{"text": "a"}\n{oops}\n', "line 2: not valid JSON"),
    (".jsonl", '{"text": "a"}\n["text"]\n', "line 2: no field 'text' (found: list)"),
    (".csv", 'id,text\n1,ok\n2,"never closed\n3,x\n', "malformed CSV"),
])
def test_bad_rows_name_the_line(tmp_path, suffix, data, expected):
    path = tmp_path / f"in{suffix}"
    path.write_text(data, encoding="utf-8")
    with pytest.raises(InputError) as e:
        count_texts(path, "text")
    assert str(e.value).startswith(f"{path}, ") and expected in str(e.value)


def test_csv_field_over_the_csv_module_limit_is_an_input_error(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text('text\n"' + "x" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"big.csv, line 2: malformed CSV \(field larger than field limit"):
        count_texts(path, "text")


def test_csv_blank_lines_are_no_records(tmp_path):
    """A blank line (often a trailing one) is skipped, as csv.DictReader does; an empty text is ""."""
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,a\n\n2,""\n3,b\n\n', encoding="utf-8")
    assert list(read_texts(path, "text")) == ["a", "", "b"]


@pytest.mark.parametrize("name,column,message", [
    ("in.txt", "text", "column applies to .csv, .tsv and .jsonl files"),  # the CLI says --column
    ("in.csv", None, "a .csv file needs column=NAME"),
    ("in.jsonl", None, "a .jsonl file needs column=NAME"),
])
def test_column_option_mismatch(tmp_path, name, column, message):
    path = tmp_path / name
    path.write_text("text\nx\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        count_texts(path, column)


def test_missing_or_empty_input_file(tiny, tmp_path):
    with pytest.raises(InputError, match="nope.txt: input file not found"):
        encode_file(tiny, tmp_path / "nope.txt", tmp_path / "out.npy", show_progress=False)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(InputError, match="empty.txt: no texts to encode"):
        encode_file(tiny, tmp_path / "empty.txt", tmp_path / "out.npy", show_progress=False)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty.csv: no texts to encode"):  # one rule for every empty input
        encode_file(tiny, tmp_path / "empty.csv", tmp_path / "out.npy", column="text", show_progress=False)
    assert not (tmp_path / "out.npy").exists()


# ----------------------------------------------------------------------------- library: output files
def _temp_files(folder: Path, name: str) -> list[Path]:
    return list(folder.glob(f".{name}.*.tmp*"))


def test_output_in_a_missing_folder_fails_before_reading_input(tiny, tmp_path):
    out = tmp_path / "missing" / "out.npy"
    # the input does not exist either: the output is checked first, before any work
    with pytest.raises(OutputError) as e:
        encode_file(tiny, tmp_path / "nope.txt", out, show_progress=False)
    assert str(e.value) == f"{out}: cannot write, folder {out.parent} does not exist"
    assert not out.parent.exists()


@pytest.mark.parametrize("suffix", [".npy", ".jsonl"])
def test_output_that_is_an_existing_folder(tiny, bad, tmp_path, suffix):
    out = tmp_path / f"taken{suffix}"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match=f"taken{suffix}: cannot write, it is an existing folder"):
        encode_file(tiny, bad["ok_txt"], out, show_progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    assert _temp_files(tmp_path, out.name) == []


@pytest.mark.parametrize("name", ["out.csv", "out.npz", "out", "out.NPY.txt"])
def test_unknown_output_suffix(tiny, bad, tmp_path, name):
    with pytest.raises(OutputError) as e:
        encode_file(tiny, bad["ok_txt"], tmp_path / name, show_progress=False)
    assert str(e.value).startswith(f"{tmp_path / name}: unknown output type") and "expected .npy or .jsonl" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_uppercase_suffix_is_accepted(tiny, bad, tmp_path):
    summary = encode_file(tiny, bad["ok_txt"], tmp_path / "OUT.NPY", show_progress=False)
    assert summary["rows"] == len(TEXTS)
    np.testing.assert_allclose(np.load(tmp_path / "OUT.NPY"), tiny.encode(TEXTS), atol=1e-6)


@pytest.mark.parametrize("suffix", [".npy", ".jsonl"])
def test_bad_utf8_leaves_existing_output_untouched(tiny, bad, tmp_path, suffix):
    out = tmp_path / f"old{suffix}"
    out.write_bytes(b"previous results")
    with pytest.raises(InputError, match="line 3: not valid UTF-8"):
        encode_file(tiny, bad["bad_utf8"], out, show_progress=False)
    assert out.read_bytes() == b"previous results"
    assert _temp_files(tmp_path, out.name) == []


@pytest.mark.parametrize("suffix", [".npy", ".jsonl"])
def test_failure_mid_encoding_leaves_existing_output_untouched(tiny, bad, tmp_path, monkeypatch, suffix):
    """The encoder dies after the first chunk was written to the temp file: the old output stays."""
    out = tmp_path / f"old{suffix}"
    out.write_bytes(b"previous results")
    real = tiny.encode_stream
    written = []

    def dying_stream(texts, **kwargs):
        for chunk in real(texts, **kwargs):
            written.append(len(chunk))
            yield chunk
            raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(tiny, "encode_stream", dying_stream)
    with pytest.raises(RuntimeError, match="simulated"):
        encode_file(tiny, bad["ok_txt"], out, chunk_rows=2, show_progress=False)
    assert written == [2]  # it did fail mid-way
    assert out.read_bytes() == b"previous results"
    assert _temp_files(tmp_path, out.name) == []


def test_unknown_pooling_or_layer_in_encode_file_writes_nothing(tiny, bad, tmp_path):
    with pytest.raises(InputError, match="unknown pooling 'median'"):
        encode_file(tiny, bad["ok_txt"], tmp_path / "a.npy", pooling="median", show_progress=False)
    with pytest.raises(InputError, match="layer 9 does not exist"):
        encode_file(tiny, bad["ok_txt"], tmp_path / "b.jsonl", layers=9, show_progress=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- the CLI
CLI_CASES = ["missing_model", "garbage_weights", "truncated_weights", "vocab_mismatch", "unknown_model_type",
             "output_checked_before_model", "hub_offline",
             "unknown_pooling", "out_of_range_layer", "unknown_layers", "non_utf8", "csv_missing_column",
             "tsv_missing_column", "jsonl_missing_field", "missing_input", "output_folder_missing",
             "output_is_a_folder", "unknown_output_suffix", "keeps_old_output", "info_corrupt",
             "similarity_missing_model", "similarity_bad_plot", "compare_unknown_pooling", "bad_device"]


def _cli_cases(bad: dict, out: Path) -> dict[str, tuple[list[str], str, list[str]]]:
    """name -> (argv, output file that must not appear, strings the one-line error must contain)."""
    tiny, ok = str(bad["tiny"]), str(bad["ok_txt"])

    def enc(model, inp, output, *extra):
        return ["encode", "--model", str(model), "--input", str(inp), "--output", str(output), *extra]

    return {
        "missing_model": (enc(bad["missing"], ok, out / "m.npy"), "m.npy", [str(bad["missing"]), "not found"]),
        "garbage_weights": (enc(bad["garbage"], ok, out / "g.npy"), "g.npy",
                            [str(bad["garbage"] / "model.safetensors"), "corrupt or truncated"]),
        "truncated_weights": (enc(bad["truncated"], ok, out / "t.npy"), "t.npy",
                              [str(bad["truncated"] / "model.safetensors"), "corrupt or truncated"]),
        "vocab_mismatch": (enc(bad["bigvocab"], ok, out / "v.npy"), "v.npy",
                           [f"{bad['vocab_size']} tokens", f"{bad['rows']} rows"]),
        "unknown_model_type": (enc(bad["unknown_type"], ok, out / "k.npy"), "k.npy",  # a multi-line message
                               [str(bad["unknown_type"]), "not-a-model", "cannot build the model"]),
        "output_checked_before_model": (enc(bad["missing"], ok, out / "first.csv"), "first.csv",
                                        [str(out / "first.csv"), "unknown output type"]),
        "hub_offline": (enc(HUB_ID, ok, out / "h.npy"), "h.npy", [HUB_ID, "offline", f"hf download {HUB_ID}"]),
        "unknown_pooling": (enc(tiny, ok, out / "p.npy", "--pooling", "median"), "p.npy", ["unknown pooling 'median'"]),
        "out_of_range_layer": (enc(tiny, ok, out / "l.jsonl", "--layers", "9"), "l.jsonl",
                               ["layer 9 does not exist", "0..2"]),
        "unknown_layers": (enc(tiny, ok, out / "l2.npy", "--layers", "top"), "l2.npy", ["unknown layers 'top'"]),
        "non_utf8": (enc(tiny, bad["bad_utf8"], out / "u.npy"), "u.npy", [str(bad["bad_utf8"]), "line 3", "UTF-8"]),
        "csv_missing_column": (enc(tiny, bad["csv"], out / "c.npy", "--column", "body"), "c.npy",
                               [str(bad["csv"]), "line 1", "no column 'body'", "id, text"]),
        "tsv_missing_column": (enc(tiny, bad["tsv"], out / "t2.npy", "--column", "body"), "t2.npy",
                               [str(bad["tsv"]), "no column 'body'"]),
        "jsonl_missing_field": (enc(tiny, bad["jsonl"], out / "j.jsonl", "--column", "text"), "j.jsonl",
                                [str(bad["jsonl"]), "line 2", "no field 'text'", "found: body"]),
        "missing_input": (enc(tiny, out / "nope.txt", out / "i.npy"), "i.npy", ["nope.txt", "input file not found"]),
        "output_folder_missing": (enc(tiny, ok, out / "nodir" / "o.npy"), "nodir",
                                  [str(out / "nodir"), "does not exist"]),
        "output_is_a_folder": (enc(tiny, ok, out / "taken.npy"), "", [str(out / "taken.npy"), "existing folder"]),
        "unknown_output_suffix": (enc(tiny, ok, out / "o.csv"), "o.csv", [str(out / "o.csv"), "unknown output type '.csv'"]),
        "keeps_old_output": (enc(tiny, bad["bad_utf8"], out / "keep.npy"), "", ["line 3"]),
        "info_corrupt": (["info", str(bad["truncated"])], "", [str(bad["truncated"] / "model.safetensors")]),
        "similarity_missing_model": (["similarity", "a", "b", "--model", str(bad["missing"])], "",
                                     [str(bad["missing"])]),
        "similarity_bad_plot": (["similarity", "a", "b", "--model", tiny, "--plot", str(out / "heat.jpg")],
                                "heat.jpg", ["heat.jpg", "PNG"]),
        "compare_unknown_pooling": (["compare", "a", "b", "--models", tiny, "--poolings", "cls,median"], "",
                                    ["unknown pooling 'median'"]),
        "bad_device": (["info", tiny, "--device", "toaster"], "", ["unknown device 'toaster'"]),
    }


@pytest.fixture(scope="module")
def cli(bad, tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    out = work / "out"
    out.mkdir()
    (out / "taken.npy").mkdir()
    old = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(out / "keep.npy", old)
    keep_bytes = (out / "keep.npy").read_bytes()
    env = cli_env(work / "hf")
    cases = _cli_cases(bad, out)
    assert sorted(cases) == sorted(CLI_CASES)
    # one real `python -m twinbert` process, for the exit status the shell sees, alongside the batch
    real_out = out / "gone" / "real.npy"
    real = subprocess.Popen([sys.executable, "-m", "twinbert", "encode", "--model", str(bad["tiny"]),
                             "--input", str(bad["ok_txt"]), "--output", str(real_out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = run_cli_batch({name: argv for name, (argv, _, _) in cases.items()}, work, env)
    stdout, stderr = real.communicate(timeout=600)
    results["real_process"] = {"rc": real.returncode, "stdout": stdout, "stderr": stderr}
    return {"out": out, "cases": cases, "results": results, "keep_bytes": keep_bytes, "real_out": real_out}


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_bad_input(cli, name):
    argv, output, expected = cli["cases"][name]
    result = cli["results"][name]
    command = argv[0]
    assert result["rc"] == 2, result
    assert result["stdout"] == ""
    lines = result["stderr"].splitlines()
    assert len(lines) == 1, result["stderr"]
    assert lines[0].startswith(f"twinbert {command}: error: ")
    for text in expected:
        assert text in lines[0], (text, lines[0])
    out = cli["out"]
    if output:
        assert not (out / output).exists()
        assert _temp_files(out, output) == []


def test_cli_keeps_existing_output_when_input_is_bad(cli):
    assert (cli["out"] / "keep.npy").read_bytes() == cli["keep_bytes"]
    assert _temp_files(cli["out"], "keep.npy") == []
    assert (cli["out"] / "taken.npy").is_dir() and list((cli["out"] / "taken.npy").iterdir()) == []


def test_cli_leaves_no_temp_files_at_all(cli):
    leftovers = [p.name for p in cli["out"].iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_cli_real_process_exit_status(cli, bad):
    result = cli["results"]["real_process"]
    assert result["rc"] == 2
    assert result["stdout"] == ""
    assert result["stderr"] == (f"twinbert encode: error: {cli['real_out']}: cannot write, "
                                f"folder {cli['real_out'].parent} does not exist\n")
    assert not cli["real_out"].parent.exists()


def test_cli_usage_error_exit_status(cli):
    """argparse's own errors (missing --output) also exit with 2, without a traceback."""
    proc = subprocess.run([sys.executable, "-m", "twinbert", "encode", "--input", "x.txt"],
                          capture_output=True, text=True, timeout=120, env=cli_env(cli["out"].parent / "hf"))
    assert proc.returncode == 2
    assert "the following arguments are required: --output" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""

