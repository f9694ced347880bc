"""KorQuAD 1.0 (SQuAD v1.1 JSON) read as retrieval collections: the question is the query.

Two levels, both derived at run time from the unchanged file:

* ``passage``: the corpus is every paragraph (``data[a].paragraphs[p].context``), id ``"a-p"``
  (0-based positions in the file); a question's one relevant passage is its own paragraph. Three
  paragraphs of the dev file repeat another's text word for word; they stay separate passages and
  only the question's own is relevant (the file's own marks, as the task defines them).
* ``document``: the corpus is every article, id ``"a"``: its title, then its paragraphs in order,
  joined by blank lines; a question's relevant document is its own article. A passage id's part
  before the dash is its article's id.

``part`` picks the queries by article: ``"dev"`` the articles at even positions (0, 2, ...),
``"test"`` those at odd positions, ``None`` all. The corpus is always the whole file, so a part
changes only which questions are asked. Query ids are the file's question ids.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ._io import read_text
from .examples import Dataset, RetrievalData

LEVELS = ("passage", "document")
PARTS = {"dev": 0, "test": 1}  # article position modulo 2


def _text(value, where: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path}, field {where}: is {value!r}; expected a non-empty string")
    return value


def _list(value, where: str, path: Path, what: str) -> list:
    if not isinstance(value, list) or not value:
        raise InputError(f"{path}, field {where}: is {type(value).__name__}; expected a non-empty list of {what}")
    return value


def _field(record, key: str, where: str, path: Path):
    if not isinstance(record, dict) or key not in record:
        raise InputError(f"{path}, field {where}: has no {key!r}; expected an object with {key!r}")
    return record[key]


def _articles(path: Path) -> list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]]:
    """[(title, [(context, [(question id, question)])])] in file order, checked."""
    try:
        root = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}, line {err.lineno}: not valid JSON ({err.msg}); expected KorQuAD 1.0 JSON") from None
    articles = []
    seen: set[str] = set()
    for a, article in enumerate(_list(_field(root, "data", "data", path), "data", path, "articles")):
        title = _text(_field(article, "title", f"data[{a}]", path), f"data[{a}].title", path)
        paragraphs = []
        for p, para in enumerate(_list(_field(article, "paragraphs", f"data[{a}]", path),
                                       f"data[{a}].paragraphs", path, "paragraphs")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _text(_field(para, "context", where, path), f"{where}.context", path)
            questions = []
            for q, qa in enumerate(_field(para, "qas", where, path) or []):
                qid = _text(_field(qa, "id", f"{where}.qas[{q}]", path), f"{where}.qas[{q}].id", path)
                if qid in seen:
                    raise InputError(f"{path}, field {where}.qas[{q}].id: {qid!r} appears twice; expected unique ids")
                seen.add(qid)
                questions.append((qid, _text(_field(qa, "question", f"{where}.qas[{q}]", path),
                                             f"{where}.qas[{q}].question", path)))
            paragraphs.append((context, questions))
        articles.append((title, paragraphs))
    return articles


def read_korquad(path: str | Path, *, level: str = "passage", part: str | None = None,
                 skip_bad_rows: bool = False) -> Dataset:
    """A KorQuAD 1.0 JSON file as a retrieval :class:`Dataset` (one :class:`RetrievalData`) at
    `level` ("passage" or "document"), with the questions of `part` ("dev", "test" or None = all).
    A damaged file always raises (`skip_bad_rows` is accepted for the readers' common signature)."""
    path = Path(path)
    if level not in LEVELS:
        raise InputError(f"level={level!r}: expected one of {', '.join(LEVELS)}", argument="level")
    if part is not None and part not in PARTS:
        raise InputError(f"part={part!r}: expected dev, test or None (all articles)", argument="part")
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for a, (title, paragraphs) in enumerate(_articles(path)):
        if level == "document":
            corpus[str(a)] = "\n\n".join([title] + [context for context, _ in paragraphs])
        for p, (context, questions) in enumerate(paragraphs):
            if level == "passage":
                corpus[f"{a}-{p}"] = context
            if part is not None and a % 2 != PARTS[part]:
                continue
            for qid, question in questions:
                queries[qid] = question
                relevant[qid] = {f"{a}-{p}" if level == "passage" else str(a)}
    if not queries:
        raise InputError(f"{path}: no questions in part {part!r}; expected articles with 'qas'")
    data = RetrievalData(queries=queries, corpus=corpus, relevant=relevant)
    name = "korquad" if level == "passage" else "korquad-docs"
    return Dataset(name, part or "all", path, [data], None, None, [], "retrieval", (path,))
