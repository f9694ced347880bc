"""Training config files are read in the library (twinbert.train.config): every error names the file and
the key, and speaks the Python argument (`config`), which the CLI turns into --config."""
from __future__ import annotations

import pytest

from twinbert.errors import InputError
from twinbert.train.config import read_config


def test_a_toml_file_with_datasets(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('epochs = 2\nlr = 1e-4\n\n[[datasets]]\ntask = "stsb"\nloss = "cosine"\nlimit = 8\n')
    assert read_config(path) == {"epochs": 2, "lr": 1e-4, "datasets": [{"task": "stsb", "loss": "cosine",
                                                                           "limit": 8}]}


@pytest.mark.parametrize("name, text, message", [
    ("bad.toml", "epochz = 3\n", "bad.toml: unknown setting 'epochz'; expected some of "),
    ("entry.toml", '[[datasets]]\ntask = "stsb"\n', r"entry.toml: datasets\[0\] needs 'task' and 'loss'"),
    ("key.toml", '[[datasets]]\ntask = "stsb"\nloss = "cosine"\nmargn = 1\n',
     r"key.toml: datasets\[0\] has unknown key 'margn'"),
    ("broken.toml", "epochs = \n", r"broken.toml: cannot parse \("),
    ("run.json", "{}", "run.json: expected a .toml, .yaml or .yml file"),
    ("list.yaml", "- 1\n- 2\n", "list.yaml: expected a table of settings at the top level"),
])
def test_errors_name_the_file_and_the_key(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=message) as e:
        read_config(tmp_path / name)
    assert e.value.argument == "config" and str(e.value).startswith("config ")


def test_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="config .*nope.toml: not found"):
        read_config(tmp_path / "nope.toml")
