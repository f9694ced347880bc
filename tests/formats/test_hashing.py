"""twinbert.formats.hashing: file hashes against hashlib and sha256sum, and the weights hashes' promises
(the same model in float32 and bfloat16 is one model, an in-place change shows, values already on disk hold)."""
from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess

import pytest
import torch

from twinbert.formats import hashing


def linear() -> torch.nn.Linear:
    """A small module with fixed weights."""
    module = torch.nn.Linear(3, 2)
    with torch.no_grad():
        module.weight.copy_(torch.arange(6.0).reshape(2, 3) / 7)
        module.bias.copy_(torch.tensor([0.5, -1.25]))
    return module


def test_file_hashes_equal_hashlib_over_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "BLOCK", 7)  # many blocks and a short last one
    data = bytes(range(256)) * 3 + b"tail"
    (tmp_path / "f").write_bytes(data)
    assert hashing.file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert hashing.file_blake2b(str(tmp_path / "f")) == hashlib.blake2b(data, digest_size=16).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert hashing.file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_files_sha256_is_sha256sum_of_the_sorted_listing(tmp_path):
    for name, text in (("b.txt", "second"), ("a.txt", "first"), ("c.txt", "")):
        (tmp_path / name).write_text(text)
    listing = subprocess.run(["sha256sum", "a.txt", "b.txt", "c.txt"], cwd=tmp_path, capture_output=True,
                             check=True).stdout
    files = [tmp_path / "c.txt", tmp_path / "a.txt", tmp_path / "b.txt"]
    assert hashing.files_sha256(files) == hashlib.sha256(listing).hexdigest()
    alone = subprocess.run(["sha256sum", "b.txt"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert hashing.files_sha256([tmp_path / "b.txt"]) == alone.stdout.split()[0]


def test_json_blake2b_ignores_key_order_not_values():
    assert hashing.json_blake2b({"a": 1, "b": [1, 2]}) == hashing.json_blake2b({"b": [1, 2], "a": 1})
    assert hashing.json_blake2b({"a": 1}) != hashing.json_blake2b({"a": 2})
    assert hashing.text_blake2b("x") == hashlib.blake2b(b"x", digest_size=16).hexdigest()


def test_the_hashes_already_on_disk_keep_their_values():
    """Index folders and distributed encodes record model_fingerprint; compiled graphs are cached under
    weights_blake2b: both as the code before this module computed them for these weights."""
    assert hashing.model_fingerprint(linear()) == "blake2b:0bf2867fb0f746064f35fba3942da98f"
    assert hashing.weights_blake2b(linear()) == "fef3d25a4325a6cab56edc9abca6d285"


def test_weights_state_tells_a_change_without_reading_bytes():
    module = linear()
    before = hashing.weights_state(module)
    assert hashing.weights_state(module) == before
    with torch.no_grad():
        module.weight.mul_(1)  # same values, changed in place: torch bumps the version
    assert hashing.weights_state(module) != before
    with torch.inference_mode():
        frozen = torch.nn.Linear(2, 2)
    assert hashing.weights_state(frozen) is None  # inference tensors keep no version: nothing can tell


def test_weights_blake2b_is_exact_and_model_fingerprint_rounds_to_bfloat16():
    module = linear()
    same = copy.deepcopy(module)
    half = copy.deepcopy(module).to(torch.bfloat16)
    assert hashing.weights_blake2b(same) == hashing.weights_blake2b(module)
    assert hashing.weights_blake2b(half) != hashing.weights_blake2b(module)  # another dtype: another graph
    assert hashing.model_fingerprint(half) == hashing.model_fingerprint(module)  # one model, two precisions
    torch.manual_seed(0)
    wide = torch.nn.Linear(64, 64)  # enough values for float16's rounding to differ from bfloat16's somewhere
    assert hashing.model_fingerprint(copy.deepcopy(wide).to(torch.float16)) != hashing.model_fingerprint(wide)
    assert hashing.model_fingerprint(copy.deepcopy(wide).to(torch.bfloat16)) == hashing.model_fingerprint(wide)
    with torch.no_grad():
        same.bias.add_(0.25)  # a training step
    assert hashing.model_fingerprint(same) != hashing.model_fingerprint(module)
    assert hashing.weights_blake2b(same) != hashing.weights_blake2b(module)


def test_model_fingerprint_without_weights_or_with_its_own():
    class Remote:
        pass

    class Own:
        def fingerprint(self):
            return "mine:1"

    assert hashing.model_fingerprint(Remote()) is None
    assert hashing.model_fingerprint(Own()) == "mine:1"
