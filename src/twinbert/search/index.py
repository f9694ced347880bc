"""A persistent vector index: exact (flat) or approximate (FAISS HNSW / IVF) behind one interface.

An index is vectors with ids and optional texts, the model that made them (name, vector settings and
a fingerprint of its weights: see twinbert.search.fingerprint) and, for the approximate backends, a
FAISS structure (twinbert.search._faiss) whose search knob is tuned for a recall target
(twinbert.search.tuning). On disk it is one folder, written atomically and read with every file
checked: twinbert.formats.index_folder.

Scores follow :func:`twinbert.search.semantic_search`: higher is more similar; for the
euclidean and manhattan metrics the score is the negative distance.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checks import positive_int
from ..errors import InputError
from ..formats import index_folder
from ..formats.hashing import model_fingerprint as fingerprint
from ..formats.index_folder import BACKENDS, META_FILE, IndexFolder
from ..similarity import check_metric, normalize
from ._faiss import FaissBackend, require_faiss
from .backends import OUT_OF_REACH, SEARCH_KNOBS, build_ann, check_params, read_ann
from .backends import tune_ann as tune_search_knob  # tuning.tune, + ivfpq's rerank (names: tests/test_imports.py)
from .documents import Documents, chunked_rows
from .exact import search_checked
from .fingerprint import mismatch
from .hybrid import HybridSearch, check_mode, lexical_part
from .prompts import corpus_kwargs, role_kwargs, settings_with
from .rows import as_float32, index_rows
from .tuning import DEFAULT_QUERIES, DEFAULT_RECALL, KNOBS, check_recall, hold_out

RETUNE_GROWTH = 1.1  # add() re-tunes an auto-tuned index once it has grown by 10 %

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers

def _model_key(name: str) -> str:
    """'sentence-transformers/all-MiniLM-L6-v2', '/models/all-MiniLM-L6-v2/' -> 'all-MiniLM-L6-v2'."""
    return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]


def _describe_model(encoder: Any, prompt: dict | None = None) -> dict[str, Any]:
    name = getattr(encoder, "name", None)
    settings = settings_with(encoder, prompt or {})  # the corpus prompt included
    # keep meta.json valid JSON whatever the settings hold
    model = {"name": None if name is None else str(name),
             "settings": json.loads(json.dumps(settings, default=str))}
    weights = fingerprint(encoder)
    if weights is not None:
        model["fingerprint"] = weights
    return model


# --------------------------------------------------------------------------- the index

def _chunked(texts: Any, embeddings: Any, ids: Any, encoder: Any, corpus: dict, chunking: dict, start: int,
             existing: set, where: str) -> tuple[np.ndarray, list, list, Documents]:
    """Documents cut and embedded for a document index: (chunk vectors, passages, row ids, Documents)."""
    if embeddings is not None:
        raise InputError(f"{where}: chunking cuts and embeds the documents' texts itself; give the texts and an "
                         "encoder instead of embeddings", argument="embeddings")
    if chunking.get("method") in (None, "none"):
        raise InputError(f"{where}: chunk_tokens and overlap size the chunks of chunking='chunks' or 'late'; "
                         "give chunking too", argument="chunking")
    return chunked_rows(texts, ids, encoder, corpus, chunking, start=start, existing=existing, where=where)


class Index(HybridSearch):
    """Vectors with ids and optional texts, searchable by text or by embedding; with a lexical part
    (``lexical=True``), also by BM25 over the texts and by both fused (twinbert.search.hybrid).

    Make one with :meth:`build` or :meth:`load`; grow it with :meth:`add`; persist it with
    :meth:`save`. The encoder given to ``build`` is remembered (not saved) as the default
    for later ``add`` and ``search`` calls with texts.
    """

    def __init__(self, vectors: np.ndarray, ids: list, texts: list, *, metric: str, backend: str,
                 model: dict[str, Any] | None, ann: FaissBackend | None = None,
                 encoder: Any = None, tuning_report: dict[str, Any] | None = None):
        self._vectors = vectors
        self._ids = ids
        self._texts = texts
        self._id_set = set(ids)
        self.metric = metric
        self.backend = backend
        self.model = model
        self._ann = ann
        self._encoder = encoder
        self.tuning = tuning_report  # how the search knob was chosen (see tune), or None
        self._home: Path | None = None  # the folder loaded from or last saved to: save may update it
        self._documents: Documents | None = None  # a document index's documents (build with chunking)
        self._said_k_too_large = False  # search: a k above the index's size is said once, not per query

    # ----------------------------------------------------------------- properties

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return (f"Index(count={len(self)}, dimension={self.dimension}, metric={self.metric!r}, "
                f"backend={self.backend!r}, model={self.model_name!r})")

    @property
    def dimension(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def documents(self) -> Documents | None:
        """A document index's documents (ids, texts, each row's document and span, the chunking: see
        twinbert.search.documents); None for an index of rows. The rows (``ids``, ``texts``, ``len``) are its chunks."""
        return self._documents

    @property
    def backend_params(self) -> dict[str, Any]:
        """The approximate backend's parameters (empty for flat)."""
        return {} if self._ann is None else dict(self._ann.params)

    @property
    def model_name(self) -> str | None:
        return None if self.model is None else self.model.get("name")

    @property
    def ids(self) -> list:
        return list(self._ids)

    @property
    def texts(self) -> list:
        return list(self._texts)

    @property
    def vectors(self) -> np.ndarray:
        """The stored vectors (read-only view; unit length for the cosine metric)."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    # ----------------------------------------------------------------- building

    @classmethod
    def build(cls, texts: Sequence[str] | None = None, embeddings: Any = None,
              ids: Sequence[Any] | None = None, encoder: Any = None, metric: str = "cosine",
              backend: str = "flat", *, model_name: str | None = None,
              recall_target: float | None = DEFAULT_RECALL, prompt_name: str | None = None,
              prompt: str | None = None, lexical: Any = False, lexical_threads: int = 1,
              chunking: str | None = None, chunk_tokens: int | None = None, overlap: int | None = None,
              **backend_params: Any) -> Index:
        """Build an index from texts (encoded with ``encoder``) and/or precomputed embeddings.

        Args:
            texts: the texts; encoded by ``encoder`` unless ``embeddings`` are given too
                (then they are only stored, to be shown in search hits).
            embeddings: ``[n, dim]`` numpy/torch, or the path of a ``.npy`` file.
            ids: one unique id (str or int) per row; default ``0 .. n-1``.
            encoder: needed for texts without embeddings; its ``name``, ``settings()`` and
                the fingerprint of its weights are recorded so that later queries from another
                model (even one of the same name) are refused.
            metric: ``cosine``, ``dot``, ``euclidean`` or ``manhattan``.
            backend: ``flat`` (exact); ``hnsw`` or ``ivf`` (approximate); ``ivfpq``, ``int8`` or
                ``binary`` (compressed codes in memory, re-scored exactly from the stored vectors,
                memory-mapped once saved and loaded); all but flat need faiss. ``milvus``: the rows go
                to a Milvus collection (``uri=``, ``collection=``, ``index_type=``, ...: see
                twinbert.search.milvus and docs/milvus.md); the index returned is a MilvusIndex.
            model_name: the model behind ``embeddings`` when no encoder is given.
            recall_target: approximate backends only: unless ``ef_search`` / ``nprobe`` (``rerank``
                for int8 and binary) is given,
                it is set to the smallest value whose recall@10 against the exact search reaches
                this, measured on up to 200 rows held out of the index until then (aiming at half
                the misses the target allows, see ``twinbert.search.tuning``); the report is kept
                as ``index.tuning``. None keeps the fixed default.
            prompt_name, prompt: the prompt the texts are encoded with; default: the model's
                "passage" prompt when it declares "query" and "passage", else its default prompt
                (see ``twinbert.search.prompts``). Recorded; ``add`` reuses it.
            lexical: also index the texts for lexical (BM25) and hybrid search: True (default
                settings: Kiwi morphemes for Korean texts, Unicode words otherwise), or a
                ``twinbert.search.lexical.LexicalConfig``; kept in step by ``add`` and ``save``.
            lexical_threads: Kiwi's worker threads for analysing the texts.
            chunking: ``"chunks"`` or ``"late"``: the texts are documents, cut into chunks of up to
                ``chunk_tokens`` tokens with ``overlap`` (twinbert.chunking) and stored one row per
                chunk; ``ids`` are the documents' ids, and search returns documents, each scored by its
                best chunk, with that chunk as "passage" and its characters as "span" (see
                twinbert.search.documents). Saved with the index; ``add`` cuts new documents alike.
            backend_params: hnsw: ``M``, ``ef_construction``, ``ef_search``;
                ivf: ``nlist``, ``nprobe`` (see ``twinbert.search._faiss``); ivfpq: see
                ``twinbert.search.ivfpq``; int8 / binary: ``rerank`` (candidates re-scored per query).
        """
        metric = check_metric(metric)
        if backend not in BACKENDS:
            raise InputError(f"backend={backend!r} is not supported; accepted: {', '.join(BACKENDS)}")
        if backend == "milvus":  # the rows go to a Milvus collection: twinbert.search.milvus
            from .milvus import MilvusIndex

            return MilvusIndex.build(texts, embeddings, ids, encoder, metric, model_name=model_name,
                                     prompt_name=prompt_name, prompt=prompt, lexical=lexical,
                                     lexical_threads=lexical_threads, chunking=chunking, chunk_tokens=chunk_tokens,
                                     overlap=overlap, **backend_params)
        if backend == "flat":
            if backend_params:
                raise InputError(f"unknown parameter(s) {', '.join(sorted(backend_params))} for "
                                 "backend='flat', which takes none")
            params: dict[str, Any] = {}
        else:
            params = check_params(backend, backend_params)
            require_faiss()
            if recall_target is not None:
                check_recall(recall_target)
        if encoder is not None and model_name is not None:
            raise InputError("give either encoder= or model_name=, not both (the encoder names its model)")
        corpus = role_kwargs(encoder, "passage", prompt_name, prompt)
        model = _describe_model(encoder, corpus) if encoder is not None else (
            {"name": str(model_name), "settings": {}} if model_name is not None else None)

        documents = None
        if chunking not in (None, "none") or chunk_tokens is not None or overlap is not None:
            embeddings, texts, ids, documents = _chunked(texts, embeddings, ids, encoder, corpus,
                                                         {"method": chunking, "chunk_tokens": chunk_tokens,
                                                          "overlap": overlap}, 0, set(), "Index.build")
        vectors, texts_list, ids_list = index_rows(texts, embeddings, ids, encoder, start=0,
                                                  existing=set(), where="Index.build", prompt=corpus)
        if len(vectors) == 0:
            source = str(embeddings) if isinstance(embeddings, (str, os.PathLike)) else "Index.build"
            raise InputError(f"{source}: no rows to index; give at least one text or embedding")
        words = lexical_part(lexical, texts_list, lexical_threads, "Index.build")
        if metric == "cosine":
            vectors = normalize(vectors)
        tune = backend != "flat" and recall_target is not None and KNOBS.get(backend, "nprobe") not in backend_params
        held_out = hold_out(len(vectors), 0, len(vectors)) if tune else None
        ann = None
        if backend != "flat":
            rest = None if held_out is None else np.setdiff1d(np.arange(len(vectors)), held_out)
            ann = build_ann(backend, metric, params, vectors, rest)
        index = cls(vectors, ids_list, texts_list, metric=metric, backend=backend, model=model,
                    ann=ann, encoder=encoder)
        index._lexical = words
        index._documents = documents
        if tune:
            index._tune_with_held_out(recall_target, 10, held_out)
        return index

    def _check_encoder(self, encoder: Any, force: bool, where: str, corpus: dict | None = None) -> None:
        """Refuse an encoder whose vectors are not comparable with the stored ones: by fingerprint
        and settings when both sides have them (old indexes and encoders without weights: by name)."""
        dim = getattr(encoder, "dimension", None)
        name = getattr(encoder, "name", None)
        if dim is not None and int(dim) != self.dimension:
            raise InputError(f"{where}: the encoder {name!r} gives dimension {dim} but the index was "
                             f"built with {self.model_name!r}, dimension {self.dimension}; "
                             "vectors of different dimensions cannot be compared (not even with force=True)")
        if force:
            return
        if (self.model or {}).get("fingerprint") and fingerprint(encoder) is not None:
            # the weights first: the recorded prompt ("passage") means nothing to another model
            if mismatch(self.model, encoder, {}) and _model_key(str(name)) != _model_key(str(self.model_name)):
                raise InputError(f"{where}: the index was built with another model ({self.model_name!r}), not "
                                 f"{name!r}; their vectors are not comparable. Use {self.model_name!r}, or pass "
                                 "force=True to go ahead anyway", argument="force")
            corpus = corpus if corpus is not None else corpus_kwargs(self.model, encoder)
            reason = mismatch(self.model, encoder, {}) or mismatch(self.model, encoder, settings_with(encoder, corpus))
            if reason:
                raise InputError(f"{where}: {reason}; their vectors are not comparable. Use the model "
                                 "the index was built with, or pass force=True to go ahead anyway",
                                 argument="force")
            return  # the same weights and settings: the same model, wherever it lives
        if (name is not None and self.model_name is not None
                and _model_key(str(name)) != _model_key(self.model_name)):
            raise InputError(f"{where}: the index was built with model {self.model_name!r} but the "
                             f"encoder is {name!r}; their vectors are not comparable. Use the same "
                             "model, or pass force=True to go ahead anyway", argument="force")

    def add(self, texts: Sequence[str] | None = None, embeddings: Any = None,
            ids: Sequence[Any] | None = None, encoder: Any = None, force: bool = False,
            prompt_name: str | None = None, prompt: str | None = None) -> list:
        """Append rows (same arguments as :meth:`build`); returns their ids. Texts are encoded with the
        prompt the index recorded, unless prompt_name / prompt say otherwise.

        Default ids continue after the current count. Only memory changes: call :meth:`save`. An
        index with a lexical part needs texts for the new rows; an add that fails leaves both parts
        as they were.
        """
        encoder = encoder if encoder is not None else (self._encoder if embeddings is None else None)
        corpus = corpus_kwargs(self.model, encoder, prompt_name, prompt)
        if encoder is not None:
            self._check_encoder(encoder, force, "Index.add", corpus)
        added = None
        if self._documents is not None:
            embeddings, texts, ids, added = _chunked(texts, embeddings, ids, encoder, corpus, self._documents.chunking,
                                                     len(self), set(self._documents.ids), "Index.add")
        vectors, texts_list, ids_list = index_rows(texts, embeddings, ids, encoder, start=len(self),
                                                   existing=self._id_set, where="Index.add",
                                                   dimension=self.dimension, prompt=corpus)
        lexical = self._lexical_added(texts_list, "Index.add")  # before any change: it may fail
        if self.metric == "cosine":
            vectors = normalize(vectors)
        start = len(self)
        self._vectors = np.concatenate([self._vectors, vectors]) if len(vectors) else self._vectors
        self._ids.extend(ids_list)
        self._id_set.update(ids_list)
        self._texts.extend(texts_list)
        if self._ann is not None:
            retune = (self.tuning is not None and self.tuning["queries_from"] != "given queries"
                      and len(self) >= RETUNE_GROWTH * self.tuning["count"])
            # new rows make fresh queries for the re-tuning: they go into the graph after it
            held_out = hold_out(len(self), start, len(vectors)) if retune and self._ann.any_order else None
            kept = np.arange(start, len(self)) if held_out is None else np.setdiff1d(np.arange(start, len(self)),
                                                                                     held_out)
            self._ann.add(self._vectors[kept], kept)
            if held_out is not None:
                self._tune_with_held_out(self.tuning["target"], self.tuning["k"], held_out)
            elif retune:
                self.tune(self.tuning["target"], k=self.tuning["k"])
        if lexical is not None:
            self._lexical = lexical
        if added is not None:
            self._documents = self._documents.extended(added)
            return added.ids
        return ids_list

    # ----------------------------------------------------------------- searching

    def _query_vectors(self, queries: Any, encoder: Any, force: bool, where: str,
                       prompt: dict | None = None) -> np.ndarray:
        """Query texts (encoded) or embeddings as float32 [n, dimension], unit length for cosine."""
        if isinstance(queries, str):
            queries = [queries]
        if isinstance(queries, (list, tuple)) and len(queries) == 0:
            return np.zeros((0, self.dimension), np.float32)
        if isinstance(queries, (list, tuple)) and all(isinstance(q, str) for q in queries):
            encoder = encoder if encoder is not None else self._encoder
            if encoder is None:
                hint = f"twinbert.load({self.model_name!r})" if self.model_name else "twinbert.load(...)"
                raise InputError(f"{where} got text queries but no encoder; pass encoder={hint}")
            self._check_encoder(encoder, force, where)
            query = role_kwargs(encoder, "query", **(prompt or {}))
            vectors = as_float32(encoder.encode(list(queries), **query), "the encoder's output")
        else:
            vectors = as_float32(queries, "queries")
        if vectors.shape[1] != self.dimension:
            raise InputError(f"{where}: queries have dimension {vectors.shape[1]} but the index "
                             f"({self.model_name or 'unknown model'}) has dimension {self.dimension}")
        return normalize(vectors) if self.metric == "cosine" else vectors

    def tune(self, recall: float = DEFAULT_RECALL, k: int = 10, queries: Any = None,
             sample: int = DEFAULT_QUERIES, seed: int = 0, encoder: Any = None,
             force: bool = False, prompt_name: str | None = None, prompt: str | None = None) -> dict[str, Any]:
        """Set the search knob (``ef_search`` for hnsw, ``nprobe`` for ivf) to the smallest value
        whose recall@k against the exact search reaches ``recall`` (its mean over the queries less
        two standard errors; with stand-in queries, half the misses: see ``twinbert.search.tuning``)
        and return the report, also kept as ``index.tuning`` and saved: ``value``, ``recall``,
        ``recall_low``, ``aim``, ``reached``, ``queries_from`` and every trial.

        queries: queries like the ones the index will serve (best): texts (encoded with
            ``encoder`` or the build's encoder, checked as in :meth:`search`) or embeddings
            ``[n, dim]``; None: ``sample`` random stored rows, each with its own row left out.
            Stored rows are easier to find than new queries (a graph links each row to its
            neighbours), so that estimate runs high for hnsw; :meth:`build` and :meth:`add`
            avoid it by tuning with rows held out of the graph until the tuning is done.
        The target may be out of reach (a graph built with too small ``M`` / ``ef_construction``):
        then the most exhaustive setting is kept, ``reached`` is False and a warning is logged.
        Later :meth:`add` calls re-tune (unless the queries were given) once the index has grown
        by 10 %.
        """
        if self._ann is None:
            raise InputError("Index.tune: a flat index is exact (recall 1.0); only hnsw and ivf have "
                             "a search knob to tune")
        k = positive_int(k, "k")
        sample = positive_int(sample, "sample")
        prepared = None
        if queries is not None:
            prepared = self._query_vectors(queries, encoder, force, "Index.tune",
                                           {"prompt_name": prompt_name, "prompt": prompt})
            if len(prepared) == 0:
                raise InputError("Index.tune: queries is empty; give some, or None to sample stored rows")
        return self._keep(tune_search_knob(self._ann, self._vectors, self.metric, recall, k=k, queries=prepared,
                                     sample=sample, seed=seed))

    def _tune_with_held_out(self, recall: float, k: int, held_out: np.ndarray | None) -> None:
        """Tune with the stored rows at ``held_out`` as queries (not in the graph yet: fresh
        queries, where stored rows make it look easier than it is), then add them."""
        if held_out is None:
            self.tune(recall, k=k)
            return
        self._keep(tune_search_knob(self._ann, self._vectors, self.metric, recall, k=k, held_out=held_out))
        self._ann.add(self._vectors[held_out], held_out)

    def _keep(self, report: dict[str, Any]) -> dict[str, Any]:
        if not report["reached"]:
            log.warning("recall@%d target %.3f is out of reach for this %s index of %d rows: %s=%d gives %.3f; %s",
                        report["k"], report["target"], self.backend, len(self), report["knob"], report["value"],
                        report["recall"], OUT_OF_REACH.get(self.backend, "use flat for exact results"))
        self.tuning = report
        return report

    def set_search_params(self, **params: Any) -> None:
        """Change the search-time knob of an approximate index (kept by :meth:`save`):
        ``ef_search`` for hnsw, ``nprobe`` for ivf (at most ``nlist``). More = better recall, slower.
        A value set here replaces the one chosen by :meth:`tune` (``tuning`` becomes None)."""
        accepted = SEARCH_KNOBS[self.backend]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise InputError(f"set_search_params: {', '.join(unknown)} cannot be set for backend="
                             f"{self.backend!r}; accepted: {', '.join(accepted) or 'nothing'}")
        for name, value in params.items():
            value = positive_int(value, name)
            if name == "nprobe":
                value = min(value, self._ann.params["nlist"])
            self._ann.params[name] = value
        self.tuning = None

    def search(self, queries_or_embeddings: Any, k: int = 10, encoder: Any = None,
               force: bool = False, prompt_name: str | None = None,
               prompt: str | None = None, mode: str = "dense",
               query_embeddings: Any = None) -> list[list[dict[str, Any]]]:
        """The ``k`` best rows for each query.

        Args:
            queries_or_embeddings: one string, a list of strings (encoded with ``encoder``, or
                the encoder given to ``build``), or query embeddings ``[n, dim]`` / ``[dim]``.
            k: hits per query; an index holding fewer rows (documents) gives all it has, and
                says so once in a warning.
            encoder: the encoder for text queries.
            force: search even when the encoder is not the index's model (other weights, vector
                settings or name; different dimensions are always refused).
            prompt_name, prompt: the prompt text queries are encoded with; default: the model's
                "query" prompt when it declares "query" and "passage", else its default prompt.
            mode: ``dense`` (the vectors), ``lexical`` (BM25 over the texts; no encoder needed) or
                ``hybrid`` (both, fused with ``index.fusion``: see :meth:`tune_fusion`); the last two
                need the lexical part and text queries. Scores are BM25 scores for lexical and
                fused scores for hybrid.
            query_embeddings: the query texts' vectors, when encoded already (dense and hybrid).

        Returns:
            One list per query (also for a single query) of
            ``{"id", "text", "score", "rank"}`` dicts, best first, rank starting at 1.
        """
        k = positive_int(k, "k")
        self._say_if_smaller(k)
        prompts = {"prompt_name": prompt_name, "prompt": prompt}
        if check_mode(mode, self._lexical) != "dense":
            if isinstance(queries_or_embeddings, (list, tuple)) and len(queries_or_embeddings) == 0:
                return []
            return self._results(self._search_mode(queries_or_embeddings, self._depth(k), mode, encoder, force,
                                                   prompts, query_embeddings), k)
        given = queries_or_embeddings if query_embeddings is None else query_embeddings
        vectors = self._query_vectors(given, encoder, force, "Index.search", prompts)
        if len(vectors) == 0:
            return []
        return self._results(self._dense_rows(vectors, self._depth(k)), k)

    def _say_if_smaller(self, k: int) -> None:
        """A result smaller than asked says why: once per index, as a warning (the CLI shows it on stderr)."""
        size, unit = (len(self), "rows") if self._documents is None else (len(self._documents.ids), "documents")
        if k > size and not self._said_k_too_large:
            self._said_k_too_large = True
            log.warning("k=%d asks for more hits than this index holds (%d %s): each query gets at most %d",
                        k, size, unit, size)

    def _depth(self, k: int) -> int:
        """Rows to fetch for k hits: k, or enough chunks for k whole documents (twinbert.search.documents)."""
        return k if self._documents is None else self._documents.depth(k)

    def _results(self, rows: list[list[tuple[int, float]]], k: int) -> list[list[dict[str, Any]]]:
        """Row hits as hit dicts: one per row, or one per document of a document index."""
        return self._hits(rows) if self._documents is None else self._documents.hits(rows, k, self._texts)

    def _dense_rows(self, vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
        """(row, score) of the ``k`` nearest stored vectors of each query vector, best first."""
        if self._ann is None:
            # stored vectors are already unit length for cosine: a dot product is the same score;
            # both sides were checked finite when they came in
            metric = "dot" if self.metric == "cosine" else self.metric
            hits = search_checked(torch.from_numpy(vectors), torch.from_numpy(self._vectors), k, metric)
        else:
            scores, indices = self._ann.search(vectors, k)
            hits = [[(i, s) for i, s in zip(row_i, row_s) if i >= 0]
                    for row_i, row_s in zip(indices.tolist(), scores.tolist())]
        return hits

    def _hits(self, rows: list[list[tuple[int, float]]]) -> list[list[dict[str, Any]]]:
        return [[{"id": self._ids[i], "text": self._texts[i], "score": float(s), "rank": rank}
                 for rank, (i, s) in enumerate(row, start=1)] for row in rows]

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the index to the folder ``path`` atomically (see twinbert.formats.index_folder).

        overwrite: replace an index already at ``path``, or write the index into a non-empty folder
            that is not one (its other files are kept). Not needed to update the index's own folder
            (the one it was loaded from or last saved to). Files of another program named like the
            index's own (e.g. a ``vectors.npy`` without twinbert's meta.json) are never replaced.
        """
        folder = IndexFolder(self._vectors, self._ids, self._texts, metric=self.metric, backend=self.backend,
                             backend_params=self.backend_params, model=self.model, tuning=self.tuning,
                             lexical=None if self._lexical is None else self._lexical.record(),
                             fusion=self._fusion_record(),
                             documents=None if self._documents is None else self._documents.record())
        target = index_folder.save(folder, path, write_ann=None if self._ann is None else self._ann.write,
                                   overwrite=overwrite, home=self._home, sources=[self.model_name],
                                   write_lexical=None if self._lexical is None else self._lexical.write,
                                   write_documents=None if self._documents is None else self._documents.write)
        self._home = target.resolve()
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> Index:
        """Read an index folder written by :meth:`save`, checking every file."""
        folder = index_folder.read(path)
        if folder.backend == "milvus":  # meta.json names the collection: twinbert.search.milvus
            from .milvus import MilvusIndex

            return MilvusIndex.from_folder(folder, path)
        ann = None
        if folder.ann_path is not None:
            ann = read_ann(folder, described_by=META_FILE)
        index = cls(folder.vectors, folder.ids, folder.texts, metric=folder.metric, backend=folder.backend,
                    model=folder.model, ann=ann, tuning_report=folder.tuning)
        index._restore_hybrid(folder, path)
        if folder.documents is not None:
            index._documents = Documents.read(Path(path), folder.documents, len(index))
        index._home = Path(path).resolve()
        return index
