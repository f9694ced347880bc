"""Dataset readers: official row counts and hand-checked rows of the real shared data, and
errors / skipping / generic files on small temporary files."""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
from pathlib import Path

import pytest

from twinbert.data import (
    Dataset,
    PairExample,
    TextExample,
    TripletExample,
    list_tasks,
    load_task,
    read_klue_nli,
    read_kornli,
    read_korsts,
    read_nli_csv,
    read_nsmc,
    read_pairs,
    read_stsb,
    read_labelled_texts,
    read_triplets,
    resolve_data_root,
    unescape_nsmc,
)
from twinbert.errors import InputError

DATA = Path(os.environ.get("TWINBERT_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")


@functools.cache
def task(name: str, split: str) -> Dataset:
    return load_task(name, split, root=DATA)


# ---------------------------------------------------------------- real data: counts, hashes

OFFICIAL_COUNTS = [
    ("stsb", "train", 5749), ("stsb", "dev", 1500), ("stsb", "test", 1379),
    ("korsts", "train", 5749), ("korsts", "dev", 1500), ("korsts", "test", 1379),
    ("kornli", "dev", 2490), ("kornli", "test", 5010),
    ("klue-nli", "dev", 3000), ("klue-sts", "dev", 519),
    ("sick", "train", 4500), ("sick", "trial", 500), ("sick-nli", "train", 4500), ("sick-nli", "trial", 500),
    ("nsmc", "train", 150000), ("nsmc", "test", 50000),
    ("sst2", "train", 67349), ("sst2", "dev", 872), ("sst2", "test", 1821),
    ("snli", "dev", 9842), ("snli", "test", 9824),
    ("mnli", "dev_matched", 9815), ("mnli", "dev_mismatched", 9832),
    ("mrpc", "train", 3668), ("mrpc", "dev", 408), ("mrpc", "test", 1725), ("mrpc", "train_full", 4076),
    ("rte", "train", 2490), ("rte", "dev", 277),
    ("wikitext2", "valid", 2461), ("wikitext2", "test", 2891),
]


@pytest.mark.parametrize("name,split,count", OFFICIAL_COUNTS)
def test_official_row_counts(name, split, count):
    ds = task(name, split)
    assert len(ds) == count
    assert (ds.name, ds.split, ds.skipped) == (name, split, [])
    assert ds.kind == {spec.name: spec.kind for spec in list_tasks()}[name]


def test_every_registered_split_is_counted():
    registered = {(spec.name, split) for spec in list_tasks() for split in spec.splits}
    retrieval = {("cranfield", "test"), *((name, split) for name in ("korquad", "korquad-docs") for split in ("dev", "test"))}
    assert registered - retrieval == {(n, s) for n, s, _ in OFFICIAL_COUNTS}  # retrieval: test_cranfield, search/test_lexical


def test_sha256_matches_manifest():
    manifest = {}
    for line in (DATA / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        manifest[fields[0]] = fields[3]
    for name, split in [("stsb", "test"), ("mrpc", "dev"), ("klue-sts", "dev"), ("sick", "trial")]:
        ds = task(name, split)
        assert ds.sha256 == manifest[ds.path.relative_to(DATA).as_posix()]
    cran = task("cranfield", "test")
    listing = "".join(f"{manifest['cranfield/' + f]}  {f}\n" for f in ("cran.all.1400", "cran.qry", "cranqrel"))
    assert cran.sha256 == hashlib.sha256(listing.encode()).hexdigest()


def test_label_distributions():
    def counts(name, split):
        return dict(collections.Counter(e.label for e in task(name, split).examples))

    assert counts("snli", "dev") == {"entailment": 3329, "contradiction": 3278, "neutral": 3235}
    assert counts("mnli", "dev_matched") == {"entailment": 3479, "contradiction": 3213, "neutral": 3123}
    assert counts("kornli", "test") == {"entailment": 1670, "neutral": 1670, "contradiction": 1670}
    assert counts("klue-nli", "dev") == {"entailment": 1000, "neutral": 1000, "contradiction": 1000}
    assert counts("sick-nli", "trial") == {"neutral": 282, "entailment": 144, "contradiction": 74}
    assert counts("sst2", "test") == {0: 912, 1: 909}
    assert counts("nsmc", "train") == {0: 75173, 1: 74827}
    assert counts("mrpc", "test") == {1: 1147, 0: 578}
    assert counts("rte", "dev") == {1: 146, 0: 131}
    assert task("rte", "dev").labels == ["not_entailment", "entailment"]
    assert task("sst2", "test").labels == ["negative", "positive"]


# ---------------------------------------------------------------- real data: hand-checked rows

def test_stsb_rows_first_last_quotes_and_extra_columns():
    train = task("stsb", "train").examples
    assert train[0] == PairExample("A plane is taking off.", "An air plane is taking off.", 5.0)
    # last row carries 2 extra trailing columns (source attribution), dropped
    assert train[-1] == PairExample(
        "Putin spokesman: Doping charges appear unfounded",
        "The Latest on Severe Weather: 1 Dead in Texas After Tornado", 0.0)
    assert train[1523] == PairExample(  # line 1524
        'A dog in a "superman" shirt sleeps on a blanket.',
        "A brown dog in a Superman shirt is laying on a blue blanket.", 4.0)
    dev = task("stsb", "dev").examples
    # a sentence starting with a quote whose closing quote is mid-field (line 699)
    assert dev[698] == PairExample(
        "The assertion is false, at least as you've restated it here.",
        '"I had mainly been" is fine, in the context you\'re using it.', 0.6)
    test = task("stsb", "test").examples
    # line 626: 9 fields, trailing spaces inside the sentences kept
    assert test[625] == PairExample(
        "I remained under the banyan tree, exhausted by my daily ritual of dragooning the men every two hours. ",
        "I remained under the banyan tree, exhausted by my daily ritual of herding the cats every two hours. ",
        3.0)
    assert task("stsb", "test").score_range == (0.0, 5.0)


def test_korsts_aligned_with_stsb_and_last_row_without_newline():
    for split in ("train", "dev", "test"):
        eng, kor = task("stsb", split).examples, task("korsts", split).examples
        assert [e.score for e in kor] == [e.score for e in eng]
    assert task("korsts", "train").examples[0] == PairExample("비행기가 이륙하고 있다.", "비행기가 이륙하고 있다.", 5.0)
    assert task("korsts", "dev").examples[-1] == PairExample(
        "새로운 비디오는 우리에게 경찰관들이 정신적으로 아픈 사람을 때리는 것을 보여준다",
        "도끼 공격으로 중상을 입은 뉴욕 경찰관", 0.0)


def test_nli_rows():
    snli = task("snli", "dev").examples
    assert snli[0] == PairExample(
        "Two women are embracing while holding to go packages.",
        "The sisters are hugging goodbye while holding to go packages after just eating lunch.", None, "neutral")
    assert snli[-1] == PairExample(  # CSV-quoted field with commas
        "A young girl with blue and pink ribbons in her braids, without a top and a woman with a white t-shirt "
        "and a zebra skirt wading in a public water fountain.",
        "A young mother tries to grab her topless child from a water foutain before she attracts attention",
        None, "neutral")
    mnli = task("mnli", "dev_matched").examples
    assert mnli[0] == PairExample("The new rights are nice enough", "Everyone really likes the newest benefits ", None, "neutral")
    assert task("mnli", "dev").split == "dev_matched"
    kornli = task("kornli", "dev").examples
    assert kornli[0] == PairExample('그리고 그가 말했다, "엄마, 저 왔어요."', "그는 학교 버스가 그를 내려주자마자 엄마에게 전화를 걸었다.", None, "neutral")
    assert task("kornli", "test").examples[-1] == PairExample(
        "25달러에 20만 단어의 평균 소설은 달러당 8,000단어로 적용된다.", "25달러짜리 20만 단어 소설은 달러당 8,000 단어다.", None, "entailment")
    sick = task("sick", "train").examples
    assert sick[-1] == PairExample("Three dogs are resting on a sidewalk", "The woman with a knife is slicing a pepper", 1.0, "neutral")
    assert task("sick", "train").score_range == (1.0, 5.0)
    klue = task("klue-nli", "dev").examples
    assert klue[0] == PairExample("흡연자분들은 발코니가 있는 방이면 발코니에서 흡연이 가능합니다.", "어떤 방에서도 흡연은 금지됩니다.", None, "contradiction")
    klue_sts = task("klue-sts", "dev").examples
    assert klue_sts[0] == PairExample("무엇보다도 호스트분들이 너무 친절하셨습니다.", "무엇보다도, 호스트들은 매우 친절했습니다.", 4.9, 1)
    assert klue_sts[-1].score == 2.9 and klue_sts[-1].label == 0


def test_pair_classification_rows():
    mrpc = task("mrpc", "dev").examples  # file starts with a byte-order mark; bare quote in sentence2
    assert mrpc[0] == PairExample(
        "He said the foodservice pie business doesn 't fit the company 's long-term growth strategy .",
        '" The foodservice pie business does not fit our long-term growth strategy .', None, 1)
    assert task("mrpc", "test").examples[-1].sentence1.endswith('" Re : Details " or " Re : That Movie . "')
    rte = task("rte", "dev").examples
    assert rte[-1].sentence2 == "Greenpeace director said that peace is terrorism."
    assert rte[-1].sentence1.startswith('Danny Kennedy, Greenpeace campaigns director, said: "The burden')
    assert rte[-1].label == 0


def test_classification_rows():
    nsmc = task("nsmc", "train").examples
    assert nsmc[0] == TextExample("아 더빙.. 진짜 짜증나네요 목소리", 0)
    assert nsmc[165] == TextExample('영화 끝나갈때쯤에 멍하다가 다보고나면 한마디 나올거임 "ㅈ같다."', 1)  # line 167
    assert sum(e.text == "" for e in nsmc) == 5
    assert sum(e.text == "" for e in task("nsmc", "test").examples) == 3
    assert nsmc[7063] == TextExample('"', 0)  # line 7065: 10 quotes, i.e. one quote quoted twice
    assert nsmc[114564] == TextExample('""""\'\'\'\'"\'', 1)  # line 114566
    sst = task("sst2", "train").examples
    assert sst[0] == TextExample("hide new secretions from the parental units ", 0)
    assert task("sst2", "test").examples[-1] == TextExample(
        "dazzling and sugar-sweet , a blast of shallow magnificence that only sex , scandal , and a chorus "
        "line of dangerous damsels can deliver .", 1)
    assert task("wikitext2", "valid").examples[0] == TextExample("= Homarus gammarus =")


def test_unescape_nsmc():
    assert unescape_nsmc('"""A """"B"""" C"""') == 'A "B" C'
    assert unescape_nsmc('"A ""B"" C"') == 'A "B" C'
    assert unescape_nsmc("no quotes") == "no quotes"


def test_cranfield():
    ds = task("cranfield", "test")
    data = ds.retrieval
    assert (len(data.corpus), len(data.queries)) == (1400, 225)
    assert sum(len(docs) for docs in data.relevant.values()) == 1837
    assert set(data.queries) == {str(n) for n in range(1, 226)}
    assert data.queries["3"] == "what problems of heat conduction in composite slabs have been solved so far ."  # '.I 004'
    assert data.corpus["471"] == "" and data.corpus["995"] == ""
    assert data.corpus["1"].startswith("experimental investigation of the aerodynamics of a wing in a slipstream . an experimental")
    assert "application to turbulent separations" in data.corpus["240"]  # text after a stray '.A' kept
    assert {"184", "29", "31", "486"} <= data.relevant["1"] and len(data.relevant["1"]) == 29
    assert data.grades["1"]["184"] == 2 and data.grades["1"]["486"] == -1
    assert collections.Counter(g for q in data.grades.values() for g in q.values()) == {-1: 225, 1: 128, 2: 387, 3: 734, 4: 363}


# ---------------------------------------------------------------- errors and skipping

STS_OK = "g\tf\t2012\t0001\t{score}\tA man is here.\tA man is there.\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def sts_file(tmp_path, bad_score, line=2, rows=3):
    text = "".join(STS_OK.format(score=bad_score if n == line else "3.5") for n in range(1, rows + 1))
    return write(tmp_path, "sts.csv", text)


def test_malformed_row_names_file_line_and_field(tmp_path):
    path = sts_file(tmp_path, "abc")
    with pytest.raises(InputError) as err:
        read_stsb(path)
    msg = str(err.value)
    assert str(path) in msg and "line 2" in msg and "field 'score'" in msg and "from 0 to 5" in msg


def test_skip_bad_rows_records_line_and_reason(tmp_path):
    path = write(tmp_path, "sts.csv", STS_OK.format(score="1") + STS_OK.format(score="x") + "too\tfew\n" + STS_OK.format(score="5.000"))
    ds = read_stsb(path, skip_bad_rows=True)
    assert [e.score for e in ds.examples] == [1.0, 5.0]
    assert [line for line, _ in ds.skipped] == [2, 3]
    assert "score" in ds.skipped[0][1] and "has 2 tab-separated fields" in ds.skipped[1][1]


@pytest.mark.parametrize("score,words", [("5.5", "outside 0..5"), ("-0.1", "outside 0..5"), ("nan", "NaN"), ("NaN", "NaN"), ("inf", "infinite"), ("1_0", "not a number")])
def test_bad_scores(tmp_path, score, words):
    path = sts_file(tmp_path, score, line=3)
    with pytest.raises(InputError, match="line 3") as err:
        read_stsb(path)
    assert words in str(err.value)


def test_sick_score_range_is_1_to_5(tmp_path):
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
    path = write(tmp_path, "SICK.txt", header + "1\tA b\tC d\t0.5\tNEUTRAL\n")
    with pytest.raises(InputError, match=r"line 2, field 'relatedness_score'.*outside 1\.\.5"):
        load_task("sick", "train", root=_root_with(tmp_path, "sick/SICK_train.txt", path))


def _root_with(tmp_path: Path, relpath: str, source: Path) -> Path:
    root = tmp_path / "root"
    (root / relpath).parent.mkdir(parents=True, exist_ok=True)
    (root / relpath).write_bytes(source.read_bytes())
    return root


def test_wrong_field_count_in_stsb(tmp_path):
    path = write(tmp_path, "sts.csv", STS_OK.format(score="1") + "g\tf\t2012\t1\t2\ta\tb\textra\n")
    with pytest.raises(InputError, match="line 2, row: has 8 tab-separated fields; expected 7 fields"):
        read_stsb(path)


def test_missing_column_lists_columns_found(tmp_path):
    path = write(tmp_path, "nli.tsv", "sentence1\tsentence2\tlabel\na\tb\tneutral\n")
    with pytest.raises(InputError) as err:
        read_kornli(path)
    msg = str(err.value)
    assert "'gold_label'" in msg and "columns found: 'sentence1', 'sentence2', 'label'" in msg and str(path) in msg


def test_header_only_file_has_no_rows(tmp_path):
    path = write(tmp_path, "sts.tsv", "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n")
    with pytest.raises(InputError, match="no rows"):
        read_korsts(path)
    with pytest.raises(InputError, match="empty"):
        read_korsts(write(tmp_path, "empty.tsv", ""))


def test_all_rows_skipped_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no rows could be read .1 skipped, first at line 1"):
        read_stsb(sts_file(tmp_path, "bad", line=1, rows=1), skip_bad_rows=True)


def test_unknown_label_and_csv_line_numbers(tmp_path):
    text = 'pairID,sentence1,sentence2,label\n1,"two\nlines, quoted",b,entailment\n2,a,b,-\n3,a,b,maybe\n'
    path = write(tmp_path, "snli.csv", text)
    with pytest.raises(InputError) as err:
        read_nli_csv(path)
    assert "line 5, field 'label': 'maybe' is not a known label; expected one of entailment, neutral, contradiction" in str(err.value)
    ds = read_nli_csv(path, skip_bad_rows=True)
    assert ds.examples == [PairExample("two\nlines, quoted", "b", None, "entailment")]  # '-' row dropped by design
    assert ds.skipped == [(5, "field 'label': 'maybe' is not a known label")]


def test_broken_csv_quoting_names_line(tmp_path):
    path = write(tmp_path, "snli.csv", 'pairID,sentence1,sentence2,label\n1,a,b,neutral\n2,"a"x,b,neutral\n')
    with pytest.raises(InputError, match="line 3, row: cannot be parsed as CSV"):
        read_nli_csv(path)


def test_nsmc_bad_quote_and_bad_utf8(tmp_path):
    path = write(tmp_path, "ratings.txt", 'id\tdocument\tlabel\n1\tok\t1\n2\tsaid "hi\t0\n')
    with pytest.raises(InputError, match="line 3, field 'document'"):
        read_nsmc(path)
    raw = tmp_path / "latin1.txt"
    raw.write_bytes(b"id\tdocument\tlabel\n1\tcaf\xe9\t1\n")
    with pytest.raises(InputError, match="line 2: bytes are not valid UTF-8"):
        read_nsmc(raw)


def test_json_record_errors_name_the_record_line(tmp_path):
    records = [{"premise": "a", "hypothesis": "b", "gold_label": "neutral"}, {"premise": "c", "gold_label": "neutral"}]
    path = write(tmp_path, "klue.json", json.dumps(records, indent=2))
    with pytest.raises(InputError, match=r"line 7, field 'hypothesis': is missing"):
        read_klue_nli(path)
    assert len(read_klue_nli(path, skip_bad_rows=True).examples) == 1
    with pytest.raises(InputError, match="line 2: invalid JSON"):
        read_klue_nli(write(tmp_path, "bad.json", '[\n{"premise": }\n]'))


def test_task_errors(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="task 'stsc': unknown; expected one of stsb, korsts"):
        load_task("stsc", "test", root=DATA)
    with pytest.raises(InputError, match="split 'dev' of task 'sick': does not exist; expected one of train, trial"):
        load_task("sick", "dev", root=DATA)
    with pytest.raises(InputError, match="dev \\(= dev_matched\\)"):
        load_task("mnli", "test", root=DATA)
    (tmp_path / "data").mkdir()
    with pytest.raises(InputError) as err:
        load_task("stsb", "dev", root=tmp_path / "data")
    assert str(tmp_path / "data" / "stsb" / "sts-dev.csv") in str(err.value)
    with pytest.raises(InputError) as err:
        load_task("stsb", "dev", root=tmp_path / "nowhere")
    assert "--data-root" in str(err.value) and "TWINBERT_DATA" in str(err.value)


def test_data_root_resolution(tmp_path, monkeypatch):
    root = tmp_path / "shared" / "data"
    path = sts_file(tmp_path, "2", rows=2)
    (root / "stsb").mkdir(parents=True)
    (root / "stsb" / "sts-dev.csv").write_bytes(path.read_bytes())
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.delenv("TWINBERT_DATA", raising=False)
    monkeypatch.chdir(project)
    assert resolve_data_root() == root
    assert [e.score for e in load_task("stsb", "dev").examples] == [3.5, 2.0]
    monkeypatch.setenv("TWINBERT_DATA", str(tmp_path / "missing"))
    with pytest.raises(InputError, match="TWINBERT_DATA"):
        resolve_data_root()
    assert resolve_data_root(root) == root


# ---------------------------------------------------------------- generic files

def test_generic_csv_pairs_with_score_and_quotes(tmp_path):
    path = write(tmp_path, "pairs.csv", 'id,q,d,sim\n1,"Hello, world","He said ""hi""",4.5\n2,a,b,0\n')
    ds = read_pairs(path, {"sentence1": "q", "sentence2": "d", "score": "sim"}, score_range=(0, 5))
    assert ds.examples == [PairExample("Hello, world", 'He said "hi"', 4.5), PairExample("a", "b", 0.0)]
    assert (ds.kind, ds.score_range) == ("sts", (0, 5))
    with pytest.raises(InputError, match=r"pairs.csv, line 2, field 'sim': '4.5' is outside 0\.\.1; expected a number from 0 to 1"):
        read_pairs(path, ("q", "d", "sim"), score_range=(0, 1))
    with pytest.raises(InputError, match="'sentence1'.*columns found: 'id', 'q', 'd', 'sim'"):
        read_pairs(path)


def test_generic_tsv_by_index_keeps_quotes(tmp_path):
    path = write(tmp_path, "pairs.tsv", '"quoted\tplain\tentailment\nx\ty\tneutral\n')
    ds = read_pairs(path, {"sentence1": 0, "sentence2": 1, "label": 2}, labels=["entailment", "neutral"])
    assert ds.examples == [PairExample('"quoted', "plain", None, "entailment"), PairExample("x", "y", None, "neutral")]
    assert ds.labels == ["entailment", "neutral"]
    bad = write(tmp_path, "bad.tsv", "a\tb\tneutral\nc\td\te\tneutral\n")
    with pytest.raises(InputError, match="line 2, row: has 4 fields; expected 3 tab-separated fields"):
        read_pairs(bad, (0, 1))
    with pytest.raises(InputError, match="column index 5 is out of range"):
        read_pairs(bad, (0, 5))


def test_generic_jsonl_triplets_and_texts(tmp_path):
    rows = [{"a": "x", "p": "y", "n": "z"}, {"a": "x2", "p": "y2", "n": "z2"}]
    path = write(tmp_path, "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    ds = read_triplets(path, ("a", "p", "n"))
    assert ds.examples == [TripletExample("x", "y", "z"), TripletExample("x2", "y2", "z2")]
    texts = write(tmp_path, "texts.jsonl", '{"t": "good", "y": 1}\n{"t": "bad", "y": 0}\n{"t": "meh"}\n')
    with pytest.raises(InputError, match="line 3, field 'y': is missing; expected a key 'y'; keys found: 't'"):
        read_labelled_texts(texts, ("t", "y"))
    ds = read_labelled_texts(texts, ("t", "y"), skip_bad_rows=True)
    assert ds.examples == [TextExample("good", "1"), TextExample("bad", "0")] and ds.labels == ["0", "1"]
    assert ds.skipped == [(3, "field 'y': is missing")]
    with pytest.raises(InputError, match="line 2, row: is not valid JSON"):
        read_labelled_texts(write(tmp_path, "broken.jsonl", '{"t": "a"}\n{"t": \n'), ("t",))


def test_generic_file_type_and_column_arguments(tmp_path):
    path = write(tmp_path, "pairs.txt", "a\tb\n")
    with pytest.raises(InputError, match="expected .csv, .tsv or .jsonl"):
        read_pairs(path, (0, 1))
    assert read_pairs(path, (0, 1), file_type="tsv").examples == [PairExample("a", "b")]
    with pytest.raises(InputError, match="mixes kinds"):
        read_pairs(path, ("a", 1), file_type="tsv")
