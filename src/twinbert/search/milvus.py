"""The Index on Milvus: the same build / add / search / tune_fusion / save / load, with the rows in a Milvus
collection (a server or cluster, or a local milvus-lite file) instead of this machine's memory.

``Index.build(..., backend="milvus", uri=URI, lexical=True)`` returns a :class:`MilvusIndex`, and
``Index.load`` of its folder too (twinbert.search.index dispatches here). The engine side, with the map of
twinbert's index types to Milvus's and the score conventions, is twinbert.search.milvus_engine.

- Dense search is the engine's (its index type: FLAT exact, HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ on a server).
- Lexical search is the engine's BM25 over the texts as twinbert's analyser cuts them (Kiwi morphemes for
  Korean), joined by spaces for the engine's ``standard`` tokenizer; or, with ``engine_analyser`` (e.g.
  lindera with ko-dic on Milvus 2.6+), over the raw texts as the engine cuts them.
- Hybrid search fuses as the local index does (twinbert.search.hybrid): each side's top ``depth`` from the
  engine, both scores of every candidate (the missing dense scores from the stored vectors, the missing
  BM25 scores from a lexical search among those ids), and twinbert's fusion, so ``tune_fusion`` chooses
  the same kind of fusion. Milvus's own WeightedRanker normalises each side by arctan and scores a row one
  side missed as 0, which is not what twinbert tunes.
- Build is resumable: into an existing collection of the same model and settings it inserts only the rows
  whose ids are missing (a build killed midway is run again); another model's collection is refused
  unless ``force=True``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import positive_int
from ..errors import InputError
from ..formats import index_folder
from ..formats.index_folder import IndexFolder
from ..progress import Progress
from ..similarity import check_metric, normalize
from .analysers import Analyser
from .fusion import DEFAULT, Fusion
from .hybrid import check_mode, hybrid_hits, text_queries, tune, tuning_queries
from .index import Index, _describe_model, _model_key
from .lexical import LexicalConfig
from .milvus_engine import ID_BYTES, RECORD_FORMAT, SEARCH_PARAMS, VARCHAR_BYTES, Engine, MilvusConfig
from .prompts import corpus_kwargs, role_kwargs
from .rows import index_rows

CONFIG_KEYS = ("uri", "collection", "index_type", "engine_analyser", "consistency", "timeout", "batch_rows")
RECORD_VERSION = 1


class EngineLexical:
    """The lexical part of a Milvus index: its settings and the analyser that prepares texts for the engine
    (the terms and their BM25 statistics are the engine's)."""

    def __init__(self, config: LexicalConfig, engine_analyser: dict | None = None, threads: int = 1):
        self.config, self.engine_analyser = config, engine_analyser
        self.analyser = Analyser(config.analyser, threads=threads)

    def terms(self, texts: list[str]) -> list[str]:
        """What the engine's analyser gets: twinbert's terms joined by spaces, or the raw texts."""
        if self.engine_analyser is not None:
            return list(texts)
        return [" ".join(terms) for terms in self.analyser(texts)]

    def record(self) -> dict:
        return {**self.config.to_dict(), "library": "milvus", "method": "bm25", "engine_analyser": self.engine_analyser}

    @classmethod
    def from_record(cls, record: dict | None, threads: int = 1) -> EngineLexical | None:
        return None if record is None else cls(LexicalConfig.from_dict(record), record.get("engine_analyser"), threads)


def engine_lexical(setting: Any, engine_analyser: dict | None, threads: int) -> EngineLexical | None:
    if setting is None or setting is False:
        return None
    config = setting if isinstance(setting, LexicalConfig) else LexicalConfig() if setting is True else None
    if config is None:
        raise InputError(f"Index.build: lexical={setting!r}; expected True, False or a LexicalConfig", argument="lexical")
    return EngineLexical(config, engine_analyser, threads)


def milvus_config(settings: dict) -> MilvusConfig:
    """MilvusConfig from Index.build's keyword arguments: its fields, the rest the index type's parameters."""
    fields = {k: settings.pop(k) for k in CONFIG_KEYS if k in settings}
    if "uri" not in fields:
        raise InputError("backend='milvus' needs uri=: a Milvus server (http://host:19530) or a local milvus-lite "
                         "file (name.db)", argument="uri")
    uri = fields["uri"] = str(fields["uri"])
    if uri.endswith(".db") and "://" not in uri:  # a milvus-lite file: recorded wherever the folder is read from
        fields["uri"] = str(Path(uri).resolve())
    return MilvusConfig(**fields, params=settings)


class MilvusIndex(Index):
    """An Index whose rows are in a Milvus collection; build it with ``Index.build(backend="milvus", uri=...)``.

    Beyond the Index API: ``uri``, ``collection``, ``engine_version``; ``set_search_params`` sets the
    engine's knob (``ef_search`` for hnsw, ``nprobe`` for the ivf types), kept by ``save``.
    """

    def __init__(self, engine: Engine, record: dict, *, encoder: Any = None, lexical_threads: int = 1):
        self._engine = engine
        self.metric, self.model = record["metric"], record["model"]
        self._dimension, self._id_kind = int(record["dimension"]), record["id_kind"]
        self.backend = "milvus"
        self._lexical = EngineLexical.from_record(record.get("lexical"), lexical_threads)
        self._encoder = encoder
        self.tuning, self._home, self._documents = None, None, None
        self.fusion, self.fusion_report = None, None

    # ----------------------------------------------------------------- properties

    def __len__(self) -> int:
        return self._engine.count()

    def __repr__(self) -> str:
        return (f"MilvusIndex(uri={self.uri!r}, collection={self.collection!r}, dimension={self.dimension}, "
                f"metric={self.metric!r}, index_type={self._engine.config.index_type!r}, model={self.model_name!r})")

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def uri(self) -> str:
        return self._engine.config.uri

    @property
    def collection(self) -> str:
        return self._engine.collection

    @property
    def engine_version(self) -> str:
        return self._engine.version

    @property
    def backend_params(self) -> dict[str, Any]:
        return self._engine.config.record()

    @property
    def ids(self) -> list:
        """Every id, read from the engine (in its order): slow on a large collection."""
        return [row["id"] for row in self._engine.rows(["id"])]

    @property
    def texts(self) -> list:
        """Every text, read from the engine in the order of :attr:`ids`."""
        return [row.get("text") for row in self._engine.rows(["text"])]

    @property
    def vectors(self) -> np.ndarray:
        raise InputError(f"a Milvus index keeps its vectors in the engine ({self.uri}, collection "
                         f"{self.collection!r}); search it, or read them with the engine's own client")

    # ----------------------------------------------------------------- building

    @classmethod
    def build(cls, texts=None, embeddings=None, ids=None, encoder=None, metric: str = "cosine", *,
              model_name: str | None = None, prompt_name: str | None = None, prompt: str | None = None,
              lexical: Any = False, lexical_threads: int = 1, force: bool = False, token: str | None = None,
              show_progress: bool = False, chunking=None, chunk_tokens=None, overlap=None, **settings: Any):
        """See Index.build; ``settings``: MilvusConfig's fields (uri, collection, index_type, engine_analyser,
        consistency, timeout, batch_rows) and the index type's parameters (M, ef_construction, ef_search,
        nlist, nprobe, m, nbits). Into an existing collection of the same model and settings, only the rows
        whose ids it lacks are inserted (a killed build, run again, completes); another model's collection
        is refused unless ``force``. token: the server's credentials (never saved; default $MILVUS_TOKEN)."""
        if chunking not in (None, "none") or chunk_tokens is not None or overlap is not None:
            raise InputError("backend='milvus' indexes rows, not documents cut into chunks; leave chunking out",
                             argument="chunking")
        if encoder is not None and model_name is not None:
            raise InputError("give either encoder= or model_name=, not both (the encoder names its model)")
        metric = check_metric(metric)
        config = milvus_config(dict(settings))
        corpus = role_kwargs(encoder, "passage", prompt_name, prompt)
        model = _describe_model(encoder, corpus) if encoder is not None else (
            {"name": str(model_name), "settings": {}} if model_name is not None else None)
        words = engine_lexical(lexical, config.engine_analyser, lexical_threads)
        vectors, texts_list, ids_list = index_rows(texts, embeddings, ids, encoder, start=0, existing=set(),
                                                  where="Index.build", prompt=corpus)
        if len(vectors) == 0:
            raise InputError("Index.build: no rows to index; give at least one text or embedding")
        record = new_record(model, metric, vectors.shape[1], ids_list[0], words)
        index = cls.open(config, record, token=token, encoder=encoder, force=force, where="Index.build",
                         corpus=corpus, lexical_threads=lexical_threads)
        index._insert_missing(ids_list, vectors, texts_list, Progress(len(ids_list), "index (milvus)",
                                                                      enabled=show_progress))
        return index

    @classmethod
    def open(cls, config: MilvusConfig, record: dict, *, token: str | None = None, encoder: Any = None,
             force: bool = False, where: str = "Index.build", corpus: dict | None = None,
             lexical_threads: int = 1) -> MilvusIndex:
        """The index in ``config.collection``: created for ``record``, or the existing one when it holds the
        same kind of index (refused when another model built it, unless ``force``)."""
        engine = Engine(config, token or os.environ.get("MILVUS_TOKEN"))
        engine.check_index_type(record["metric"])
        existing = engine.record()
        if existing is None:
            engine.create(record, record["id_kind"], record["lexical"] is not None)
            return cls(engine, record, encoder=encoder, lexical_threads=lexical_threads)
        index = cls(engine, existing, encoder=encoder, lexical_threads=lexical_threads)
        index._check_same(record, encoder, force, where, corpus)
        engine.load()
        return index

    def _check_same(self, record: dict, encoder: Any, force: bool, where: str, corpus: dict | None) -> None:
        """An existing collection takes these rows only if it holds the same kind of index and model."""
        mine = {k: self._record()[k] for k in ("dimension", "metric", "id_kind", "lexical")}
        theirs = {k: record[k] for k in mine}
        if mine != theirs:
            differ = next(k for k in mine if mine[k] != theirs[k])
            raise InputError(f"{where}: collection {self.collection!r} at {self.uri!r} holds an index with {differ} "
                             f"{mine[differ]!r}, not {theirs[differ]!r}; build into another collection=, or drop it",
                             argument="collection")
        if encoder is not None:
            self._check_encoder(encoder, force, where, corpus)
            return
        name, wanted = self.model_name, (record["model"] or {}).get("name")
        ours, given = (self.model or {}).get("fingerprint"), (record["model"] or {}).get("fingerprint")
        other = (ours != given) if ours and given else (name is not None and wanted is not None
                                                       and _model_key(name) != _model_key(wanted))
        if other and not force:
            raise InputError(f"{where}: collection {self.collection!r} at {self.uri!r} holds vectors of model "
                             f"{name!r}, not {wanted!r}; their vectors are not comparable. Use another collection=, "
                             "or pass force=True to go ahead anyway", argument="force")

    def _record(self) -> dict:
        return {"format": RECORD_FORMAT, "version": RECORD_VERSION, "model": self.model, "metric": self.metric,
                "dimension": self.dimension, "id_kind": self._id_kind,
                "lexical": None if self._lexical is None else self._lexical.record()}

    def _insert_missing(self, ids: list, vectors: np.ndarray, texts: list, progress: Progress,
                        close: bool = True) -> int:
        """Insert the rows whose ids the collection lacks, ``batch_rows`` at a time; returns how many.
        close: end the progress line (a caller inserting several parts closes it after the last)."""
        if self.metric == "cosine":
            vectors = normalize(vectors)
        kind = "int" if isinstance(ids[0], int) else "str"
        if any(isinstance(i, int) != (self._id_kind == "int") for i in ids):
            raise InputError(f"ids of collection {self.collection!r} are {'integers' if self._id_kind == 'int' else 'strings'}"
                             f"; got {kind} ids mixed in: give ids of one kind", argument="ids")
        present = self._engine.present(ids)
        batch, inserted = self._engine.config.batch_rows, 0
        for start in range(0, len(ids), batch):
            todo = [i for i in range(start, min(start + batch, len(ids))) if ids[i] not in present]
            if todo:
                self._engine.insert(self._rows(ids, vectors, texts, todo), done=inserted)
                inserted += len(todo)
            progress.update(min(batch, len(ids) - start))
        if close:
            progress.close()
        return inserted

    def _rows(self, ids: list, vectors: np.ndarray, texts: list, positions: list[int]) -> list[dict]:
        """The engine's rows for these positions: id, vector, text and, with a lexical part, terms."""
        chosen = [texts[i] for i in positions]
        terms = None
        if self._lexical is not None:
            missing = next((ids[i] for i in positions if texts[i] is None), None)
            if missing is not None:
                raise InputError(f"row {missing!r} has no text; the lexical part indexes texts (give texts= "
                                 "with the embeddings)", argument="texts")
            terms = self._lexical.terms(chosen)
        rows = []
        for n, i in enumerate(positions):
            row = {"id": ids[i], "vector": vectors[i].tolist(), "text": chosen[n]}
            if terms is not None:
                row["terms"] = terms[n]
            _check_lengths(row)
            rows.append(row)
        return rows

    def add(self, texts=None, embeddings=None, ids=None, encoder=None, force: bool = False,
            prompt_name: str | None = None, prompt: str | None = None) -> list:
        """Insert rows (as Index.add); ids already in the collection are refused. Default ids continue
        after the current count. The rows are in the engine when this returns; save() updates the folder."""
        encoder = encoder if encoder is not None else (self._encoder if embeddings is None else None)
        corpus = corpus_kwargs(self.model, encoder, prompt_name, prompt)
        if encoder is not None:
            self._check_encoder(encoder, force, "Index.add", corpus)
        vectors, texts_list, ids_list = index_rows(texts, embeddings, ids, encoder, start=len(self) if ids is None else 0,
                                                   existing=set(), where="Index.add", dimension=self.dimension,
                                                   prompt=corpus)
        if not ids_list:
            return []
        taken = self._engine.present(ids_list)
        if taken:
            first = next(i for i in ids_list if i in taken)
            raise InputError(f"Index.add: id {first!r} is already in the index; ids must be unique", argument="ids")
        self._insert_missing(ids_list, vectors, texts_list, Progress(len(ids_list), "add", enabled=False))
        return ids_list

    def flush(self) -> None:
        """Ask the engine to seal what was inserted (it indexes sealed segments); done by save()."""
        self._engine.flush()

    # ----------------------------------------------------------------- searching

    def tune(self, *args, **kwargs) -> dict:
        raise InputError("Index.tune: a Milvus index's search knob is the engine's; set it with "
                         "set_search_params(ef_search=...) for hnsw or (nprobe=...) for the ivf types")

    def set_search_params(self, **params: Any) -> None:
        """Set the engine's search knob (kept by save): ef_search (hnsw) or nprobe (ivf, int8, ivfpq)."""
        index_type = self._engine.config.index_type
        accepted = SEARCH_PARAMS[index_type]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise InputError(f"set_search_params: {', '.join(unknown)} cannot be set for a Milvus {index_type} "
                             f"index; accepted: {', '.join(accepted) or 'nothing'}")
        self._engine.config.params.update({name: positive_int(value, name) for name, value in params.items()})

    def search(self, queries_or_embeddings: Any, k: int = 10, encoder: Any = None, force: bool = False,
               prompt_name: str | None = None, prompt: str | None = None, mode: str = "dense",
               query_embeddings: Any = None) -> list[list[dict[str, Any]]]:
        """As Index.search: dense, lexical (the engine's BM25) or hybrid (fused here, as the local index)."""
        k = positive_int(k, "k")
        prompts = {"prompt_name": prompt_name, "prompt": prompt}
        if check_mode(mode, self._lexical) == "lexical":
            texts = text_queries(queries_or_embeddings, mode)
            return _hits(self._engine.lexical(self._lexical.terms(texts), k))
        if mode == "hybrid":
            texts = text_queries(queries_or_embeddings, mode)
            if not texts:
                return []
            fusion = self.fusion or DEFAULT
            rows, dense, lexical, mask, table = self._candidates(texts, encoder, force, prompts, max(fusion.depth, k),
                                                                 query_embeddings)
            return _hits([[(table[0][r], s, table[1][r]) for r, s in row]
                          for row in hybrid_hits(rows, dense, lexical, mask, fusion, k)])
        given = queries_or_embeddings if query_embeddings is None else query_embeddings
        vectors = self._query_vectors(given, encoder, force, "Index.search", prompts)
        return _hits(self._engine.dense(vectors, k, self.metric)) if len(vectors) else []

    def _exact(self, query: np.ndarray, stored: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return -np.linalg.norm(stored - query, axis=1)
        return stored @ query  # cosine: both sides unit length

    def _candidates(self, queries: list[str], encoder: Any, force: bool, prompt: dict, depth: int,
                    query_embeddings: Any = None):
        """As twinbert.search.hybrid.candidates, from the engine: (rows, dense, lexical, mask) over a table
        (ids, texts) of this call's candidates; every candidate has both its scores."""
        given = query_embeddings is not None
        vectors = self._query_vectors(query_embeddings if given else queries, encoder, force, "Index.search", prompt)
        if len(vectors) != len(queries):
            raise InputError(f"query_embeddings has {len(vectors)} rows for {len(queries)} queries; give one per "
                             "query", argument="query_embeddings")
        terms = self._lexical.terms(queries)
        dense_hits = self._engine.dense(vectors, depth, self.metric)
        lexical_hits = self._engine.lexical(terms, depth)
        ids, texts, position, found = [], [], {}, []
        for q in range(len(queries)):
            dense = {i: s for i, s, _ in dense_hits[q]}
            lexical = {i: s for i, s, _ in lexical_hits[q]}
            for i, _, text in dense_hits[q] + lexical_hits[q]:
                if i not in position:
                    position[i] = len(ids)
                    ids.append(i)
                    texts.append(text)
            only_lexical = [i for i in lexical if i not in dense]
            if only_lexical:
                stored = self._engine.vectors(only_lexical)
                dense.update(zip(only_lexical, self._exact(vectors[q], np.stack([stored[i] for i in only_lexical]))))
            only_dense = [i for i in dense if i not in lexical]
            if only_dense and terms[q].strip():
                lexical.update({i: s for i, s, _ in self._engine.lexical([terms[q]], len(only_dense), only_dense)[0]})
            order = list(dense)
            found.append(([position[i] for i in order], [dense[i] for i in order], [lexical.get(i, 0.0) for i in order]))
        width = max((len(r) for r, _, _ in found), default=0)
        rows = np.full((len(found), width), -1, np.int64)
        dense_scores, lexical_scores = np.zeros((len(found), width)), np.zeros((len(found), width))
        for q, (r, d, s) in enumerate(found):
            rows[q, :len(r)], dense_scores[q, :len(r)], lexical_scores[q, :len(r)] = r, d, s
        return rows, dense_scores, lexical_scores, rows >= 0, (ids, texts)

    def tune_fusion(self, queries, relevant, encoder: Any = None, *, k: int = 10, depth: int = 100,
                    force: bool = False, prompt_name: str | None = None, prompt: str | None = None,
                    query_embeddings: Any = None) -> dict:
        """As Index.tune_fusion (twinbert.search.hybrid), over the engine's candidates."""
        texts = tuning_queries(queries, self._lexical, k, depth)
        rows, dense, lexical, mask, (ids, _) = self._candidates(
            texts, encoder, force, {"prompt_name": prompt_name, "prompt": prompt}, depth, query_embeddings)
        wanted = {w for group in relevant for w in ([group] if isinstance(group, (str, int)) else group)}
        ids = ids + sorted(self._engine.present([w for w in wanted if w not in set(ids)]), key=str)
        self.fusion, self.fusion_report = tune(rows, dense, lexical, mask, relevant, ids, depth=depth, k=k)
        return self.fusion_report

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the index folder (meta.json: the URI, collection, engine index, model, lexical settings,
        fusion; see twinbert.formats.index_folder) atomically, after the engine sealed the inserted rows."""
        self._engine.flush()
        folder = IndexFolder(np.zeros((0, self.dimension), np.float32), [], [], metric=self.metric, backend="milvus",
                             backend_params=self.backend_params, model=self.model, tuning=None,
                             lexical=None if self._lexical is None else self._lexical.record(),
                             fusion=self._fusion_record(), count=len(self))
        target = index_folder.save(folder, path, overwrite=overwrite, home=self._home, sources=[self.model_name])
        self._home = target.resolve()
        return target

    @classmethod
    def from_folder(cls, folder: IndexFolder, path: str | os.PathLike, token: str | None = None) -> MilvusIndex:
        """The index of a folder read by twinbert.formats.index_folder: its collection, checked to hold the
        index the folder describes (the same model: a collection rebuilt by another one is refused)."""
        params = dict(folder.backend_params)
        config = MilvusConfig(**{k: params.pop(k) for k in (*CONFIG_KEYS, "params") if k in params})
        engine = Engine(config, token or os.environ.get("MILVUS_TOKEN"))
        record = engine.record()
        where = Path(path) / index_folder.META_FILE
        if record is None:
            raise InputError(f"{where}: collection {config.collection!r} is not at {config.uri!r} (dropped, or another "
                             "server); rebuild the index")
        if (record["model"] or {}).get("fingerprint") != (folder.model or {}).get("fingerprint") or \
                (record["model"] or {}).get("name") != (folder.model or {}).get("name"):
            raise InputError(f"{where}: collection {config.collection!r} at {config.uri!r} now holds vectors of model "
                             f"{(record['model'] or {}).get('name')!r}, not the {(folder.model or {}).get('name')!r} "
                             "this folder records; rebuild the index, or point the folder at its own collection")
        engine.load()
        index = cls(engine, record)
        if folder.fusion is not None:
            index.fusion, index.fusion_report = Fusion.from_dict(folder.fusion), folder.fusion.get("report")
        index._home = Path(path).resolve()
        return index


def new_record(model: dict | None, metric: str, dimension: int, first_id: Any, lexical: EngineLexical | None) -> dict:
    """The twinbert record of a new collection (kept as its property, see twinbert.search.milvus_engine)."""
    return {"format": RECORD_FORMAT, "version": RECORD_VERSION, "model": model, "metric": metric,
            "dimension": int(dimension), "id_kind": "int" if isinstance(first_id, (int, np.integer)) else "str",
            "lexical": None if lexical is None else lexical.record()}


def _check_lengths(row: dict) -> None:
    """A row the engine's VARCHAR fields can hold, or an error naming it (never cut silently)."""
    if isinstance(row["id"], str) and len(row["id"].encode("utf-8")) > ID_BYTES:
        raise InputError(f"id {row['id'][:40]!r}... is longer than {ID_BYTES} bytes, the longest a Milvus index "
                         "takes", argument="ids")
    for name in ("text", "terms"):
        value = row.get(name)
        if value is not None and len(value.encode("utf-8")) > VARCHAR_BYTES:
            raise InputError(f"row {row['id']!r}: its {name} is {len(value.encode('utf-8'))} bytes; a Milvus field "
                             f"holds at most {VARCHAR_BYTES}: cut long documents into passages first", argument="texts")


def _hits(rows: list[list[tuple]]) -> list[list[dict[str, Any]]]:
    return [[{"id": i, "text": t, "score": float(s), "rank": rank} for rank, (i, s, t) in enumerate(row, start=1)]
            for row in rows]


__all__ = ["EngineLexical", "MilvusIndex", "engine_lexical", "milvus_config", "new_record"]
