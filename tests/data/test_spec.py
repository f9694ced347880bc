"""The one data spec (twinbert.data.spec): "task:split" or a file with its format, read the same way and
refused with the same message for evaluation, training and the BERT heads."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import DATA

from twinbert.data import PairExample, TextExample, TripletExample
from twinbert.data.spec import DataSpec, load, read_spec
from twinbert.errors import InputError
from twinbert.evaluate.run import prepare
from twinbert.train.sentence import TrainSpec, read_training_data


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path):
    return {
        "sts": write(tmp_path / "sts.tsv", ["sentence1\tsentence2\tscore", "a cat\ta dog\t4", "i love\tthe park\t1"]),
        "pairs": write(tmp_path / "pairs.tsv", ["s1\ts2\ty", "a cat\ta dog\t1", "i love\tthe park\t0"]),
        "nli": write(tmp_path / "nli.tsv", ["premise\thypothesis\tlabel", "a\tb\tentailment", "a\tc\tcontradiction"]),
        "triplets": write(tmp_path / "t.tsv", ["anchor\tpositive\tnegative", "a\tb\tc"]),
        "texts": write(tmp_path / "texts.tsv", ["text\tlabel", "good film\tpos", "bad film\tneg"]),
        "lines": write(tmp_path / "corpus.txt", ["first line", "", "second line"]),
    }


def test_parse_names_a_task_and_split_or_a_file(files):
    assert DataSpec.parse("STSB:dev") == DataSpec("stsb", split="dev")
    assert str(DataSpec.parse("stsb:dev")) == "stsb:dev"
    assert DataSpec.parse(files["sts"]).path.name == "sts.tsv"
    with pytest.raises(InputError, match="eval nope.tsv: neither a registered dataset .* nor an existing file") as e:
        DataSpec.parse("nope.tsv", argument="eval")
    assert e.value.argument == "eval"


def test_each_format_gives_its_examples(files):
    sts = load(DataSpec("sts", path=files["sts"]))
    assert sts.kind == "sts" and sts.examples[0] == PairExample("a cat", "a dog", 4.0) and sts.score_range == (0, 5)
    pairs = load(DataSpec("pairs", path=files["pairs"], columns="s1,s2,y"))
    assert pairs.kind == "pairs" and pairs.labels == ["0", "1"] and pairs.examples[0].label == "1"
    unlabelled = load(DataSpec("pairs", path=files["pairs"], columns="s1,s2"))
    assert unlabelled.examples[0] == PairExample("a cat", "a dog")
    nli = load(DataSpec("nli", path=files["nli"]))
    assert nli.kind == "nli" and nli.labels == ["entailment", "neutral", "contradiction"]
    assert load(DataSpec("triplets", path=files["triplets"])).examples == [TripletExample("a", "b", "c")]
    lines = load(DataSpec("texts", path=files["lines"]))
    assert lines.examples == [TextExample("first line"), TextExample("second line")]
    assert (lines.name, lines.split) == ("corpus", "")
    texts = read_spec(files["texts"], "classification", labels="neg,pos")
    assert texts.kind == "classification" and texts.labels == ["neg", "pos"]


def test_one_message_for_every_caller(files):
    """Evaluation, training and a head reading the same bad spec get the same words."""
    for call in (lambda: prepare("sts"), lambda: read_training_data(TrainSpec("sts", "cosine"))):
        with pytest.raises(InputError, match=r"task 'sts' reads your own file: give data=FILE") as e:
            call()
        assert e.value.argument == "data"
    for call in (lambda: prepare("stsx"), lambda: read_training_data(TrainSpec("stsx", "cosine"))):
        with pytest.raises(InputError, match=r"task 'stsx': unknown; expected a registered dataset \(stsb, .*\) or "
                                             "one of sts, pairs, triplets, nli, texts"):
            call()
    for call in (lambda: prepare("sts", "dev", data=files["sts"]),
                 lambda: read_training_data(TrainSpec("sts", "cosine", split="dev", data=files["sts"]))):
        with pytest.raises(InputError, match="split 'dev': task 'sts' reads the file you give it"):
            call()
    for call in (lambda: prepare("sts", data=files["sts"], limit=0),
                 lambda: read_training_data(TrainSpec("sts", "cosine", data=files["sts"], limit=0)),
                 lambda: read_spec(files["texts"], "classification", limit=0)):
        with pytest.raises(InputError, match="limit must be a positive integer") as e:
            call()
        assert e.value.argument == "limit"
    with pytest.raises(InputError, match="columns sentence1,sentence2: 2 given, task 'sts' needs 3: sentence1, "
                                         "sentence2, score") as e:
        load(DataSpec("sts", path=files["sts"], columns="sentence1,sentence2"))
    with pytest.raises(InputError, match="columns text: 1 given, classification data needs 2: text, label"):
        read_spec(files["texts"], "classification", columns="text")


def test_a_registered_task(files):
    dev = load(DataSpec("stsb", data_root=DATA), split="dev")
    assert (dev.name, dev.split, dev.kind, len(dev)) == ("stsb", "dev", "sts", 1500)
    assert load(DataSpec("stsb", data_root=DATA)).split == "test"  # the default: test, else dev ...
    own = load(DataSpec("stsb", path=DATA / "stsb" / "sts-dev.csv", limit=3))
    assert (own.name, own.split, len(own)) == ("stsb", "sts-dev.csv", 3)
    with pytest.raises(InputError, match="task stsb: sts data; this command needs classification data") as e:
        read_spec("stsb", "classification", data_root=DATA)
    assert e.value.argument == "task"
    with pytest.raises(InputError, match="nope.csv: not found; expected a stsb file"):
        load(DataSpec("stsb", path=files["sts"].replace("sts.tsv", "nope.csv")))


def test_a_retrieval_limit_keeps_queries_and_the_whole_corpus():
    full = load(DataSpec("cranfield", data_root=DATA)).retrieval
    some = load(DataSpec("cranfield", data_root=DATA, limit=5)).retrieval
    assert len(some.queries) == 5 and some.corpus == full.corpus


def test_the_data_layer_loads_without_torch():
    code = "import sys, twinbert.data, twinbert.data.spec; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
