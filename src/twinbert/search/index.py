"""A persistent vector index: exact (flat) or approximate (FAISS HNSW / IVF) behind one interface.

On disk an index is ONE folder::

    my-index/
      meta.json      format + version, model (name, vector settings, fingerprint of the weights:
                     see twinbert.search.fingerprint), dimension, metric, backend, backend
                     parameters, count (written last)
      vectors.npy    float32 [count, dimension], as searched (unit length for cosine)
      items.jsonl    one {"id": ..., "text": ...} per row, in vector order (text may be null)
      ann.faiss      the FAISS index (hnsw and ivf backends only)

``save`` writes a temporary folder beside the target, fsyncs every file, then swaps it in
by renames, so a crash leaves either the previous index or the new one, never a mix. It never
replaces another index unless told to (``overwrite=True``), and never deletes a file it did not
write: into a folder that holds other files too, only the index's own files are renamed in.
``load`` checks every file and names the one at fault.

Scores follow :func:`twinbert.search.semantic_search`: higher is more similar; for the
euclidean and manhattan metrics the score is the negative distance.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twinbert.checks import positive_int
from twinbert.errors import InputError, OutputError
from twinbert.formats.atomic import atomic_folder, fsync_dir
from twinbert.search import _faiss, fingerprint, tuning
from twinbert.search.exact import as_embedding_matrix, check_metric, search_checked
from twinbert.similarity import METRICS

FORMAT = "twinbert-index"
FORMAT_VERSION = 1
BACKENDS = ("flat", "hnsw", "ivf")
META_FILE, VECTORS_FILE, ITEMS_FILE, ANN_FILE = "meta.json", "vectors.npy", "items.jsonl", "ann.faiss"
INDEX_FILES = (META_FILE, VECTORS_FILE, ITEMS_FILE, ANN_FILE)
RETUNE_GROWTH = 1.1  # add() re-tunes an auto-tuned index once it has grown by 10 %

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers

def _model_key(name: str) -> str:
    """'sentence-transformers/all-MiniLM-L6-v2', '/models/all-MiniLM-L6-v2/' -> 'all-MiniLM-L6-v2'."""
    return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]


def _describe_model(encoder: Any) -> dict[str, Any]:
    name = getattr(encoder, "name", None)
    settings = encoder.settings() if callable(getattr(encoder, "settings", None)) else {}
    # keep meta.json valid JSON whatever the settings hold
    model = {"name": None if name is None else str(name),
             "settings": json.loads(json.dumps(settings, default=str))}
    weights = fingerprint.fingerprint(encoder)
    if weights is not None:
        model["fingerprint"] = weights
    return model


def _check_ids(ids: Sequence[Any], existing: set, where: str) -> None:
    seen = set(existing)
    for position, item in enumerate(ids):
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InputError(f"{where}: id {item!r} at position {position} must be a string or an integer")
        if item in seen:
            raise InputError(f"{where}: duplicate id {item!r} at position {position}; ids must be unique")
        seen.add(item)


def _write_synced(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _as_float32(x: Any, name: str) -> np.ndarray:
    matrix, _ = as_embedding_matrix(x, name, dtype=torch.float32)
    return np.ascontiguousarray(matrix.cpu().numpy())


# --------------------------------------------------------------------------- the index

class Index:
    """Vectors with ids and optional texts, searchable by text or by embedding.

    Make one with :meth:`build` or :meth:`load`; grow it with :meth:`add`; persist it with
    :meth:`save`. The encoder given to ``build`` is remembered (not saved) as the default
    for later ``add`` and ``search`` calls with texts.
    """

    def __init__(self, vectors: np.ndarray, ids: list, texts: list, *, metric: str, backend: str,
                 model: dict[str, Any] | None, ann: _faiss.FaissBackend | None = None,
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
              recall_target: float | None = tuning.DEFAULT_RECALL, **backend_params: Any) -> Index:
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
            backend: ``flat`` (exact), ``hnsw`` or ``ivf`` (approximate, need faiss).
            model_name: the model behind ``embeddings`` when no encoder is given.
            recall_target: approximate backends only: unless ``ef_search`` / ``nprobe`` is given,
                it is set to the smallest value whose recall@10 against the exact search reaches
                this, measured on up to 200 rows held out of the index until then (aiming at half
                the misses the target allows, see ``twinbert.search.tuning``); the report is kept
                as ``index.tuning``. None keeps the fixed default.
            backend_params: hnsw: ``M``, ``ef_construction``, ``ef_search``;
                ivf: ``nlist``, ``nprobe`` (see ``twinbert.search._faiss``).
        """
        metric = check_metric(metric)
        if backend not in BACKENDS:
            raise InputError(f"backend={backend!r} is not supported; accepted: {', '.join(BACKENDS)}")
        if backend == "flat":
            if backend_params:
                raise InputError(f"unknown parameter(s) {', '.join(sorted(backend_params))} for "
                                 "backend='flat', which takes none")
            params: dict[str, Any] = {}
        else:
            params = _faiss.check_params(backend, backend_params)
            _faiss.require_faiss()
            if recall_target is not None:
                tuning.check_recall(recall_target)
        if encoder is not None and model_name is not None:
            raise InputError("give either encoder= or model_name=, not both (the encoder names its model)")
        model = _describe_model(encoder) if encoder is not None else (
            {"name": str(model_name), "settings": {}} if model_name is not None else None)

        vectors, texts_list, ids_list = cls._rows(texts, embeddings, ids, encoder, start=0,
                                                  existing=set(), where="Index.build")
        if len(vectors) == 0:
            source = str(embeddings) if isinstance(embeddings, (str, os.PathLike)) else "Index.build"
            raise InputError(f"{source}: no rows to index; give at least one text or embedding")
        if metric == "cosine":
            vectors = _normalize(vectors)
        tune = backend != "flat" and recall_target is not None and tuning.KNOBS[backend] not in backend_params
        held_out = tuning.hold_out(len(vectors), 0, len(vectors)) if tune else None
        ann = None
        if backend != "flat":
            rest = None if held_out is None else np.setdiff1d(np.arange(len(vectors)), held_out)
            ann = _faiss.FaissBackend.build(backend, metric, params, vectors, rest)
        index = cls(vectors, ids_list, texts_list, metric=metric, backend=backend, model=model,
                    ann=ann, encoder=encoder)
        if tune:
            index._tune_with_held_out(recall_target, 10, held_out)
        return index

    @staticmethod
    def _rows(texts, embeddings, ids, encoder, *, start: int, existing: set, where: str,
              dimension: int | None = None) -> tuple[np.ndarray, list, list]:
        if isinstance(texts, str):
            raise InputError(f"{where}: texts must be a list of strings, not one string")
        if texts is not None:
            texts = list(texts)
            bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
            if bad is not None:
                raise InputError(f"{where}: texts[{bad}] is {type(texts[bad]).__name__}, not a string")
        if embeddings is None and texts is None:
            raise InputError(f"{where}: give texts (with an encoder) or embeddings")
        if embeddings is None:
            if encoder is None:
                raise InputError(f"{where}: texts need an encoder to be embedded; pass "
                                 "encoder=twinbert.load(...) or give embeddings=")
            vectors = _as_float32(encoder.encode(texts), "the encoder's output") if texts else \
                np.zeros((0, dimension or int(getattr(encoder, "dimension", 1))), np.float32)
        elif isinstance(embeddings, (str, os.PathLike)):
            path = Path(embeddings)
            try:
                loaded = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise InputError(f"{path}: cannot read embeddings as a .npy file ({exc})") from exc
            vectors = _as_float32(loaded, str(path))
        else:
            vectors = _as_float32(embeddings, "embeddings")
        n = len(vectors)
        if texts is not None and len(texts) != n:
            raise InputError(f"{where}: {len(texts)} texts but {n} embeddings; they must pair up")
        if encoder is not None and getattr(encoder, "dimension", None) not in (None, vectors.shape[1]):
            raise InputError(f"{where}: embeddings have dimension {vectors.shape[1]} but the encoder "
                             f"{getattr(encoder, 'name', '')!r} has dimension {encoder.dimension}")
        if dimension is not None and vectors.shape[1] != dimension:
            raise InputError(f"{where}: embeddings have dimension {vectors.shape[1]} but the index has "
                             f"dimension {dimension}")
        if ids is None:
            ids_list = list(range(start, start + n))
        else:
            ids_list = list(ids)
            if len(ids_list) != n:
                raise InputError(f"{where}: {len(ids_list)} ids for {n} rows; give one id per row")
        _check_ids(ids_list, existing, where)
        return vectors, (texts if texts is not None else [None] * n), ids_list

    def _check_encoder(self, encoder: Any, force: bool, where: str) -> None:
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
        if (self.model or {}).get("fingerprint") and fingerprint.fingerprint(encoder) is not None:
            reason = fingerprint.mismatch(self.model, encoder)
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
            ids: Sequence[Any] | None = None, encoder: Any = None, force: bool = False) -> list:
        """Append rows (same arguments as :meth:`build`); returns their ids.

        Default ids continue after the current count. Only memory changes: call :meth:`save`.
        """
        encoder = encoder if encoder is not None else (self._encoder if embeddings is None else None)
        if encoder is not None:
            self._check_encoder(encoder, force, "Index.add")
        vectors, texts_list, ids_list = self._rows(texts, embeddings, ids, encoder, start=len(self),
                                                   existing=self._id_set, where="Index.add",
                                                   dimension=self.dimension)
        if self.metric == "cosine":
            vectors = _normalize(vectors)
        start = len(self)
        self._vectors = np.concatenate([self._vectors, vectors]) if len(vectors) else self._vectors
        self._ids.extend(ids_list)
        self._id_set.update(ids_list)
        self._texts.extend(texts_list)
        if self._ann is not None:
            retune = (self.tuning is not None and self.tuning["queries_from"] != "given queries"
                      and len(self) >= RETUNE_GROWTH * self.tuning["count"])
            # new rows make fresh queries for the re-tuning: they go into the graph after it
            held_out = tuning.hold_out(len(self), start, len(vectors)) if retune and self._ann.any_order else None
            kept = np.arange(start, len(self)) if held_out is None else np.setdiff1d(np.arange(start, len(self)),
                                                                                     held_out)
            self._ann.add(self._vectors[kept], kept)
            if held_out is not None:
                self._tune_with_held_out(self.tuning["target"], self.tuning["k"], held_out)
            elif retune:
                self.tune(self.tuning["target"], k=self.tuning["k"])
        return ids_list

    # ----------------------------------------------------------------- searching

    def _query_vectors(self, queries: Any, encoder: Any, force: bool, where: str) -> np.ndarray:
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
            vectors = _as_float32(encoder.encode(list(queries)), "the encoder's output")
        else:
            vectors = _as_float32(queries, "queries")
        if vectors.shape[1] != self.dimension:
            raise InputError(f"{where}: queries have dimension {vectors.shape[1]} but the index "
                             f"({self.model_name or 'unknown model'}) has dimension {self.dimension}")
        return _normalize(vectors) if self.metric == "cosine" else vectors

    def tune(self, recall: float = tuning.DEFAULT_RECALL, k: int = 10, queries: Any = None,
             sample: int = tuning.DEFAULT_QUERIES, seed: int = 0, encoder: Any = None,
             force: bool = False) -> dict[str, Any]:
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
            prepared = self._query_vectors(queries, encoder, force, "Index.tune")
            if len(prepared) == 0:
                raise InputError("Index.tune: queries is empty; give some, or None to sample stored rows")
        return self._keep(tuning.tune(self, recall, k=k, queries=prepared, sample=sample, seed=seed))

    def _tune_with_held_out(self, recall: float, k: int, held_out: np.ndarray | None) -> None:
        """Tune with the stored rows at ``held_out`` as queries (not in the graph yet: fresh
        queries, where stored rows make it look easier than it is), then add them."""
        if held_out is None:
            self.tune(recall, k=k)
            return
        self._keep(tuning.tune(self, recall, k=k, held_out=held_out))
        self._ann.add(self._vectors[held_out], held_out)

    def _keep(self, report: dict[str, Any]) -> dict[str, Any]:
        if not report["reached"]:
            log.warning("recall@%d target %.3f is out of reach for this %s index: %s=%d gives %.3f; "
                        "rebuild with a larger M / ef_construction (hnsw) or use ivf", report["k"], report["target"],
                        self.backend, report["knob"], report["value"], report["recall"])
        self.tuning = report
        return report

    def set_search_params(self, **params: Any) -> None:
        """Change the search-time knob of an approximate index (kept by :meth:`save`):
        ``ef_search`` for hnsw, ``nprobe`` for ivf (at most ``nlist``). More = better recall, slower.
        A value set here replaces the one chosen by :meth:`tune` (``tuning`` becomes None)."""
        accepted = {"flat": (), "hnsw": ("ef_search",), "ivf": ("nprobe",)}[self.backend]
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
               force: bool = False) -> list[list[dict[str, Any]]]:
        """The ``k`` best rows for each query.

        Args:
            queries_or_embeddings: one string, a list of strings (encoded with ``encoder``, or
                the encoder given to ``build``), or query embeddings ``[n, dim]`` / ``[dim]``.
            k: hits per query (fewer when the index is smaller).
            encoder: the encoder for text queries.
            force: search even when the encoder is not the index's model (other weights, vector
                settings or name; different dimensions are always refused).

        Returns:
            One list per query (also for a single query) of
            ``{"id", "text", "score", "rank"}`` dicts, best first, rank starting at 1.
        """
        k = positive_int(k, "k")
        vectors = self._query_vectors(queries_or_embeddings, encoder, force, "Index.search")
        if len(vectors) == 0:
            return []
        if self._ann is None:
            # stored vectors are already unit length for cosine: a dot product is the same score;
            # both sides were checked finite when they came in
            metric = "dot" if self.metric == "cosine" else self.metric
            hits = search_checked(torch.from_numpy(vectors), torch.from_numpy(self._vectors), k, metric)
        else:
            scores, indices = self._ann.search(vectors, k)
            hits = [[(i, s) for i, s in zip(row_i, row_s) if i >= 0]
                    for row_i, row_s in zip(indices.tolist(), scores.tolist())]
        return [[{"id": self._ids[i], "text": self._texts[i], "score": float(s), "rank": rank}
                 for rank, (i, s) in enumerate(row, start=1)] for row in hits]

    # ----------------------------------------------------------------- persistence

    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model,
                "dimension": self.dimension, "metric": self.metric, "normalized": self.metric == "cosine",
                "backend": self.backend, "backend_params": self.backend_params, "tuning": self.tuning,
                "count": len(self), "files": [META_FILE, VECTORS_FILE, ITEMS_FILE] + ([ANN_FILE] if self._ann else [])}

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the index to the folder ``path`` atomically.

        overwrite: replace an index already at ``path``, or write the index into a non-empty folder
            that is not one (its other files are kept). Not needed to update the index's own folder
            (the one it was loaded from or last saved to). Files of another program named like the
            index's own (e.g. a ``vectors.npy`` without twinbert's meta.json) are never replaced.
        """
        target = check_save_path(path, overwrite, home=self._home)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{target}: cannot create the index folder ({exc})") from exc
        others = target.is_dir() and any(p.name not in INDEX_FILES for p in target.iterdir())
        if others:
            _write_beside_others(target, self._write_files)
        else:
            with atomic_folder(target, "index") as tmp:
                self._write_files(tmp, target)
        self._home = target.resolve()
        return target

    def _write_files(self, tmp: Path, target: Path) -> None:
        try:
            _write_synced(tmp / VECTORS_FILE, lambda f: np.save(f, self._vectors, allow_pickle=False))
            _write_synced(tmp / ITEMS_FILE, lambda f: f.writelines(
                (json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n").encode("utf-8")
                for i, t in zip(self._ids, self._texts)))
            if self._ann is not None:
                self._ann.write(tmp / ANN_FILE)
                with open(tmp / ANN_FILE, "rb+") as f:  # faiss wrote it: sync it ourselves
                    os.fsync(f.fileno())
            _write_synced(tmp / META_FILE, lambda f: f.write(
                json.dumps(self._meta(), indent=2, ensure_ascii=False).encode("utf-8")))
        except OSError as exc:
            raise OutputError(f"{target}: saving the index failed ({exc}); "
                              "any previous index there is unchanged") from exc

    @classmethod
    def load(cls, path: str | os.PathLike) -> Index:
        """Read an index folder written by :meth:`save`, checking every file."""
        folder = Path(path)
        if not folder.is_dir():
            leftovers = sorted(folder.parent.glob(f".{folder.name}.old-*")) if folder.parent.is_dir() else []
            if leftovers:
                raise InputError(f"{folder}: no index here, but {leftovers[-1]} holds the previous one "
                                 f"(a save was interrupted); rename it to {folder} to restore it")
            raise InputError(f"{folder}: no index folder here (expected a folder with {META_FILE}, "
                             f"{VECTORS_FILE} and {ITEMS_FILE})")
        meta = _read_meta(folder / META_FILE)
        dimension, count, backend = meta["dimension"], meta["count"], meta["backend"]

        vectors_path = folder / VECTORS_FILE
        if not vectors_path.is_file():
            raise InputError(f"{vectors_path}: missing; the index folder is incomplete")
        try:
            # approximate backends search their own copy: keep ours on disk until needed
            vectors = np.load(vectors_path, mmap_mode="r" if backend != "flat" else None,
                              allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"{vectors_path}: unreadable or truncated .npy file ({exc})") from exc
        if vectors.dtype != np.float32 or vectors.shape != (count, dimension):
            raise InputError(f"{vectors_path}: holds {vectors.dtype} {vectors.shape} but {META_FILE} "
                             f"says float32 ({count}, {dimension})")

        as_embedding_matrix(vectors, str(vectors_path))  # refuses NaN / inf rows (an index of old)
        ids, texts = _read_items(folder / ITEMS_FILE, count)

        ann = None
        if backend != "flat":
            ann_path = folder / ANN_FILE
            if not ann_path.is_file():
                raise InputError(f"{ann_path}: missing; backend={backend!r} needs it")
            ann = _faiss.FaissBackend.read(ann_path, backend, meta["metric"], meta["backend_params"])
            faiss = _faiss.require_faiss()
            kind = faiss.IndexHNSW if backend == "hnsw" else faiss.IndexIVF
            if not isinstance(ann.inner, kind) or ann.index.d != dimension or len(ann) != count:
                raise InputError(f"{ann_path}: holds a {type(ann.inner).__name__} of {len(ann)} vectors "
                                 f"of dimension {ann.index.d}; {META_FILE} says {backend}, "
                                 f"{count} x {dimension}")
        index = cls(vectors, ids, texts, metric=meta["metric"], backend=backend, model=meta["model"],
                    ann=ann, tuning_report=meta.get("tuning"))
        index._home = folder.resolve()
        return index


def _is_index(folder: Path) -> bool:
    """Whether ``folder`` holds a meta.json that twinbert wrote (valid or not in its details)."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def check_save_path(path: str | os.PathLike, overwrite: bool = False, home: Path | None = None) -> Path:
    """Where :meth:`Index.save` may write (checked before any work by ``twinbert index build``):
    a new or empty folder; an existing index or a folder of other files only with overwrite=True
    (or the index's own folder, ``home``); never a file, nor over files named like the index's own
    in a folder that is not an index (another program's)."""
    target = Path(path)
    if not target.exists():
        return target
    if not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder; an index is saved as a folder")
    if not any(target.iterdir()):
        return target
    is_index = _is_index(target)
    if not is_index:
        clash = [name for name in INDEX_FILES if (target / name).exists()]
        if clash:
            raise OutputError(f"{target}: holds {clash[0]} but no twinbert index ({META_FILE} missing or "
                              "not twinbert's); refusing to replace files twinbert did not write "
                              "(choose another path)")
    if overwrite or (is_index and home is not None and target.resolve() == home):
        return target
    if is_index:
        raise OutputError(f"{target}: an index already exists here; pass overwrite=True to replace it",
                          argument="overwrite")
    raise OutputError(f"{target}: a non-empty folder that is not an index; pass overwrite=True to write "
                      "the index into it (its other files are kept), or choose another path",
                      argument="overwrite")


def _write_beside_others(target: Path, write) -> None:
    """Save into a folder that also holds files twinbert did not write, keeping them: write the
    files into a temp folder inside it, then rename them in, meta.json last. A crash in between
    leaves no meta.json: the folder is no longer taken for an index, never for a mixed one."""
    tmp = target / f".index.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write(tmp, target)
        fsync_dir(tmp)
        try:
            (target / META_FILE).unlink(missing_ok=True)
            for name in INDEX_FILES:  # an index file the new index lacks (ann.faiss of an old hnsw)
                if not (tmp / name).exists():
                    (target / name).unlink(missing_ok=True)
            for name in sorted(os.listdir(tmp), key=lambda n: n == META_FILE):
                os.replace(tmp / name, target / name)
        except OSError as exc:
            raise OutputError(f"{target}: saving the index failed ({exc})") from exc
        fsync_dir(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: missing; not a twinbert index folder, or one whose save never finished")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a twinbert index description (expected \"format\": \"{FORMAT}\")")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"{path}: format_version {version!r}; this twinbert reads version {FORMAT_VERSION}")

    def field(name: str, ok, accepted: str):
        value = meta.get(name)
        if not ok(value):
            raise InputError(f"{path}: field {name!r} is {value!r}; expected {accepted}")
        return value

    def count_like(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    field("dimension", lambda v: count_like(v) and v > 0, "a positive integer")
    field("count", count_like, "a non-negative integer")
    field("metric", lambda v: v in METRICS, f"one of {', '.join(METRICS)}")
    field("backend", lambda v: v in BACKENDS, f"one of {', '.join(BACKENDS)}")
    field("backend_params", lambda v: isinstance(v, dict), "an object")
    field("tuning", lambda v: v is None or (isinstance(v, dict) and {"target", "k", "queries", "count",
                                                                     "queries_from"} <= set(v)),
          "null or a tuning report")
    field("model", lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("name"), (str, type(None)))
                                           and isinstance(v.get("fingerprint"), (str, type(None)))),
          "null or an object with a \"name\" (and a \"fingerprint\" string, if any)")
    return meta


def _read_items(path: Path, count: int) -> tuple[list, list]:
    if not path.is_file():
        raise InputError(f"{path}: missing; the index folder is incomplete")
    ids: list = []
    texts: list = []
    seen: set = set()
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}, line {line_no}: not valid JSON ({exc})") from exc
                if not isinstance(row, dict) or "id" not in row:
                    raise InputError(f"{path}, line {line_no}: expected an object with \"id\" and \"text\"")
                item, text = row["id"], row.get("text")
                if isinstance(item, bool) or not isinstance(item, (str, int)) or item in seen:
                    raise InputError(f"{path}, line {line_no}: id {item!r} is duplicate or not a string/integer")
                if text is not None and not isinstance(text, str):
                    raise InputError(f"{path}, line {line_no}: \"text\" must be a string or null")
                seen.add(item)
                ids.append(item)
                texts.append(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable ({exc})") from exc
    if len(ids) != count:
        raise InputError(f"{path}: holds {len(ids)} rows but {META_FILE} says count={count}")
    return ids, texts
