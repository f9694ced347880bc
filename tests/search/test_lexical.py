"""Lexical search: the analysers (the real Kiwi on Korean text), BM25 scores against a hand
computation, add / save / load of the lexical part, and the korquad tasks' reader."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from twinbert.errors import InputError
from twinbert.search.analysers import Analyser, AnalyserConfig, ngrams, words
from twinbert.search.lexical import LexicalConfig, LexicalIndex

pytest.importorskip("bm25s")
pytest.importorskip("kiwipiepy")

WORDS = LexicalConfig(AnalyserConfig("words"))
DOCS = ["the cat sat", "the dog sat on the cat", "birds fly"]


def bm25(query: list[str], docs: list[list[str]], k1=1.2, b=0.75) -> list[float]:
    """Lucene's BM25 by hand (no (k1 + 1) factor; idf = ln(1 + (N - df + 0.5) / (df + 0.5)))."""
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out = []
    for doc in docs:
        score = 0.0
        for term in query:
            df = sum(term in d for d in docs)
            tf = doc.count(term)
            if tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        out.append(score)
    return out


def test_bm25_scores_match_a_hand_computation():
    index = LexicalIndex.build(DOCS, WORDS)
    for query in (["cat", "sat"], ["the"], ["cat", "cat", "fly"]):
        (ids,) = index.query_terms([" ".join(query)])
        want = bm25(query, [d.split() for d in DOCS])
        np.testing.assert_allclose(index.scores(ids), want, rtol=1e-5)
    hits = index.search(["cat sat", "zebra"], k=5)
    assert [row for row, _ in hits[0]] == [0, 1]  # the shorter document first; "birds fly" scores 0: left out
    assert hits[1] == []


def test_k1_and_b_are_used():
    index = LexicalIndex.build(DOCS, LexicalConfig(AnalyserConfig("words"), k1=2.0, b=0.3))
    (ids,) = index.query_terms(["cat sat"])
    np.testing.assert_allclose(index.scores(ids), bm25(["cat", "sat"], [d.split() for d in DOCS], 2.0, 0.3),
                               rtol=1e-5)


def test_add_returns_a_new_index_with_statistics_of_all_rows():
    index = LexicalIndex.build(DOCS, WORDS)
    grown = index.add(["cat cat cat"])
    assert len(index) == 3 and len(grown) == 4
    (ids,) = grown.query_terms(["cat"])
    np.testing.assert_allclose(grown.scores(ids), bm25(["cat"], [d.split() for d in DOCS + ["cat cat cat"]]),
                               rtol=1e-5)
    with pytest.raises(InputError, match="text 0 is NoneType"):
        index.add([None])


def test_kiwi_keeps_content_morphemes():
    (terms,) = Analyser()(["임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배 된 날은?"])
    assert terms == ["임종석", "여의도", "농민", "폭력", "시위", "주도", "혐의", "지명", "수배", "날"]
    # particles differ, the stem is the same term
    assert Analyser()(["시위를"]) == Analyser()(["시위가"]) == [["시위"]]


def test_auto_picks_kiwi_for_hangul_and_words_otherwise():
    auto = Analyser(AnalyserConfig("auto"))
    assert auto(["Straße in München", "Apple의 iPhone"]) == [["strasse", "in", "münchen"], ["apple", "iphone"]]  # case-folded
    assert Analyser(AnalyserConfig("kiwi"))(["only english"]) == [["only", "english"]]


def test_words_and_ngrams():
    assert words("Ｈｅｌｌｏ, World! 2023") == ["hello", "world", "2023"]  # NFKC, case-folded
    assert ngrams("시위를 a", 2) == ["시위", "위를", "a"]
    assert Analyser(AnalyserConfig("ngrams", n=3))(["abcd"]) == [["abc", "bcd"]]


@pytest.mark.parametrize("bad, match", [({"name": "stem"}, "analyser 'stem'"), ({"tags": "verbs"}, "tags 'verbs'"),
                                        ({"n": 0}, "n=0")])
def test_bad_analyser_settings(bad, match):
    with pytest.raises(InputError, match=match):
        AnalyserConfig(**bad)


def test_bad_bm25_settings():
    with pytest.raises(InputError, match=r"b=1.5: expected a number in \[0.0, 1.0\]"):
        LexicalConfig(b=1.5)


def test_korean_search_finds_the_passage():
    docs = ["서울은 대한민국의 수도이다.", "부산은 항구 도시이다.", "고양이가 매트 위에 앉았다."]
    index = LexicalIndex.build(docs)
    assert index.search(["대한민국의 수도는 어디인가?"], k=1)[0][0][0] == 0
    assert index.search(["고양이는 어디에 앉았나"], k=1)[0][0][0] == 2


def test_write_and_read_round_trip(tmp_path):
    index = LexicalIndex.build(["서울은 대한민국의 수도이다.", "the cat sat"])
    index.write(tmp_path)
    again = LexicalIndex.read(tmp_path, index.record())
    (ids,) = again.query_terms(["수도 cat"])
    np.testing.assert_array_equal(again.scores(ids), index.scores(index.query_terms(["수도 cat"])[0]))
    assert again.config == index.config and again.vocab == index.vocab
    with pytest.raises(InputError, match="count=3"):
        LexicalIndex.read(tmp_path, {**index.record(), "count": 3})


# --------------------------------------------------------------------------- the korquad tasks

def _korquad_file(path, articles):
    data = {"version": "test", "data": [
        {"title": title, "paragraphs": [{"context": ctx, "qas": [{"id": f"{title}-{p}-{q}", "question": question,
                                                                   "answers": []}
                                                                  for q, question in enumerate(questions)]}
                                        for p, (ctx, questions) in enumerate(paragraphs)]}
        for title, paragraphs in articles]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_korquad_reader_levels_and_parts(tmp_path):
    from twinbert.data.korquad import read_korquad

    path = _korquad_file(tmp_path / "k.json", [("A", [("a0", ["qa0"]), ("a1", ["qa1", "qa1b"])]),
                                               ("B", [("b0", ["qb0"])]), ("C", [("c0", ["qc0"])])])
    passages = read_korquad(path, part="dev").retrieval
    assert passages.corpus == {"0-0": "a0", "0-1": "a1", "1-0": "b0", "2-0": "c0"}
    assert passages.relevant == {"A-0-0": {"0-0"}, "A-1-0": {"0-1"}, "A-1-1": {"0-1"}, "C-0-0": {"2-0"}}
    documents = read_korquad(path, level="document", part="test").retrieval
    assert documents.corpus == {"0": "A\n\na0\n\na1", "1": "B\n\nb0", "2": "C\n\nc0"}
    assert documents.queries == {"B-0-0": "qb0"} and documents.relevant == {"B-0-0": {"1"}}
    assert len(read_korquad(path).retrieval.queries) == 5


def test_korquad_reader_names_the_bad_field(tmp_path):
    from twinbert.data.korquad import read_korquad

    path = _korquad_file(tmp_path / "k.json", [("A", [("", ["q"])])])
    with pytest.raises(InputError, match=r"field data\[0\].paragraphs\[0\].context"):
        read_korquad(path)


def test_korquad_tasks_split_the_real_file_by_article():
    from twinbert.data import load_task

    dev, test = load_task("korquad", "dev"), load_task("korquad", "test")
    assert (len(dev.retrieval.queries), len(test.retrieval.queries)) == (3316, 2458)
    assert dev.retrieval.corpus == test.retrieval.corpus and len(dev.retrieval.corpus) == 964
    assert not set(dev.retrieval.queries) & set(test.retrieval.queries)
    docs = load_task("korquad-docs", "test").retrieval
    assert len(docs.corpus) == 140 and all(int(next(iter(r))) % 2 == 1 for r in docs.relevant.values())
