"""The engine side of a Milvus index (twinbert.search.milvus): the connection, the collection, and the
calls that write and search it, each answer turned into twinbert's conventions.

One collection holds one index: ``id`` (INT64 or VARCHAR primary key: the index's ids), ``vector``
(FLOAT_VECTOR, unit length for cosine), ``text`` (nullable VARCHAR, shown in hits) and, with a lexical
part, ``terms`` (VARCHAR through the engine's analyser) and ``sparse`` (its BM25 vector, computed by
the engine's BM25 function). Its twinbert record (model, metric, dimension, index, lexical settings)
is the collection property ``twinbert``, so a collection built by another model is known as such even
without the index folder.

twinbert's index types map to Milvus's where the engine has them (``INDEX_TYPES``); an engine that lacks
one is told by name before anything is written. milvus-lite 3.x accepts IVF_PQ, then logs a failed
build and searches by brute force while ``describe_index`` says "Finished" (tried with 3.2.2), and has no
binary vectors: so what it lacks is listed here (``LITE_LACKS``) rather than found by trying.

Scores keep twinbert's convention, higher is better: COSINE and IP as reported; L2, which Milvus reports
as the squared distance, becomes minus the distance (as twinbert's euclidean); BM25, which milvus-lite
reports negated and a Milvus server positive, becomes its absolute value (a BM25 score is never negative).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..extras import require

RECORD = "twinbert"                     # the collection property holding twinbert's record
RECORD_FORMAT = "twinbert-milvus"
VARCHAR_BYTES = 65_535                  # Milvus's longest VARCHAR
ID_BYTES = 512                          # the longest string id
INDEX_TYPES = {"flat": "FLAT", "hnsw": "HNSW", "ivf": "IVF_FLAT", "int8": "IVF_SQ8", "ivfpq": "IVF_PQ"}
LITE_LACKS = {"IVF_PQ": "IVF_PQ (product quantization)", "BIN_IVF_FLAT": "binary vectors (BIN_IVF_FLAT)"}
METRICS = {"cosine": "COSINE", "dot": "IP", "euclidean": "L2"}
# build parameters (twinbert name -> Milvus name) and search parameters, per index type
BUILD_PARAMS = {"hnsw": {"M": "M", "ef_construction": "efConstruction"}, "ivf": {"nlist": "nlist"},
                "int8": {"nlist": "nlist"}, "ivfpq": {"nlist": "nlist", "m": "m", "nbits": "nbits"}, "flat": {}}
SEARCH_PARAMS = {"hnsw": {"ef_search": "ef"}, "ivf": {"nprobe": "nprobe"}, "int8": {"nprobe": "nprobe"},
                 "ivfpq": {"nprobe": "nprobe"}, "flat": {}}
DEFAULTS = {"hnsw": {"M": 32, "ef_construction": 128, "ef_search": 128}, "ivf": {"nlist": 1024, "nprobe": 32},
            "int8": {"nlist": 1024, "nprobe": 32}, "ivfpq": {"nlist": 1024, "m": 16, "nbits": 8, "nprobe": 32},
            "flat": {}}
CONSISTENCY = ("Strong", "Bounded", "Session", "Eventually")


@dataclass
class MilvusConfig:
    """Where a Milvus index lives and how the engine indexes it; saved in the index folder (the token never is)."""

    uri: str                               # a Milvus server (http://host:19530) or a local milvus-lite file (*.db)
    collection: str = "twinbert"           # the collection holding the index
    index_type: str = "hnsw"               # twinbert's name: flat | hnsw | ivf | int8 | ivfpq (see INDEX_TYPES)
    params: dict = field(default_factory=dict)  # the index type's parameters, twinbert's names (see DEFAULTS)
    engine_analyser: dict | None = None    # None: twinbert analyses texts, the engine splits the terms on
                                           # spaces ("standard"); else Milvus analyzer_params, raw text sent
    consistency: str = "Strong"            # Milvus consistency level: Strong = a search sees every finished write
    timeout: float = 30.0                  # seconds for connecting and for each call
    batch_rows: int = 1000                 # rows per insert call

    def __post_init__(self):
        if self.index_type not in INDEX_TYPES:
            hint = " (a Milvus server has BIN_IVF_FLAT, which twinbert does not use yet)" if \
                self.index_type == "binary" else ""
            raise InputError(f"index_type={self.index_type!r} for backend='milvus': expected one of "
                             f"{', '.join(INDEX_TYPES)}{hint}", argument="index_type")
        unknown = sorted(set(self.params) - set(DEFAULTS[self.index_type]))
        if unknown:
            raise InputError(f"unknown parameter(s) {', '.join(unknown)} for backend='milvus', index_type="
                             f"{self.index_type!r}; accepted: {', '.join(DEFAULTS[self.index_type]) or 'none'}",
                             argument=unknown[0])
        self.params = {**DEFAULTS[self.index_type], **self.params}
        for name, value in [*self.params.items(), ("batch_rows", self.batch_rows)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise InputError(f"{name}={value!r} for backend='milvus' must be a positive integer", argument=name)
        if self.consistency not in CONSISTENCY:
            raise InputError(f"consistency={self.consistency!r}: expected one of {', '.join(CONSISTENCY)}",
                             argument="consistency")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise InputError(f"timeout={self.timeout!r}: expected a positive number of seconds", argument="timeout")
        if not isinstance(self.uri, str) or not self.uri:
            raise InputError("backend='milvus' needs uri=: a Milvus server (http://host:19530) or a local "
                             "milvus-lite file (name.db)", argument="uri")

    def record(self) -> dict:
        """What the index folder keeps (backend_params)."""
        return asdict(self)

    def build_params(self) -> dict:
        return {BUILD_PARAMS[self.index_type][k]: v for k, v in self.params.items() if k in BUILD_PARAMS[self.index_type]}

    def search_params(self) -> dict:
        return {SEARCH_PARAMS[self.index_type][k]: v for k, v in self.params.items()
                if k in SEARCH_PARAMS[self.index_type]}


def _milvus_error(exc: Exception) -> str:
    """A pymilvus exception as one line."""
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]


class Engine:
    """One connection to a Milvus (server or milvus-lite file) and the calls a Milvus index makes."""

    def __init__(self, config: MilvusConfig, token: str | None = None):
        pymilvus = require("pymilvus", "a Milvus index (backend='milvus')")
        # pymilvus logs each failed call with its traceback before raising; twinbert says it in one line
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        self.config = config
        self.collection = config.collection
        try:
            self.client = pymilvus.MilvusClient(config.uri, token=token or "", timeout=config.timeout)
            self.version = str(self.client.get_server_version(timeout=config.timeout))
        except Exception as exc:  # pymilvus raises several kinds; each is the same answer to the user
            raise InputError(f"uri={config.uri!r}: no Milvus answered within {config.timeout:g} s "
                             f"({_milvus_error(exc)}); check the address and that the server runs",
                             argument="uri") from exc
        self.lite = self.version.startswith("milvus_lite")

    def _call(self, what: str, method: str, *args, **kwargs) -> Any:
        """One client call, its failure an OutputError naming the engine and what was being done."""
        try:
            return getattr(self.client, method)(*args, timeout=self.config.timeout, **kwargs)
        except Exception as exc:
            raise OutputError(f"Milvus at {self.config.uri!r}, collection {self.collection!r}: {what} failed "
                              f"({_milvus_error(exc)})") from exc

    # ------------------------------------------------------------- the collection and its record

    def check_index_type(self, metric: str) -> None:
        """Refuse, by name, an index type or metric the connected engine lacks (never a substitute)."""
        if metric not in METRICS:
            raise InputError(f"metric={metric!r} for backend='milvus': Milvus has no {metric} metric for float "
                             f"vectors; accepted: {', '.join(METRICS)}", argument="metric")
        wanted = INDEX_TYPES[self.config.index_type]
        if self.lite and wanted in LITE_LACKS:
            raise InputError(f"index_type={self.config.index_type!r} maps to Milvus's {wanted}, which the engine at "
                             f"{self.config.uri!r} ({self.version}) lacks: it has no {LITE_LACKS[wanted]}. Use a "
                             "Milvus server (2.4 or later), or index_type 'hnsw', 'ivf' or 'int8' (IVF_SQ8)",
                             argument="index_type")

    def record(self) -> dict | None:
        """The twinbert record of the collection; None when there is no such collection."""
        if not self._call("looking up the collection", "has_collection", self.collection):
            return None
        described = self._call("describing the collection", "describe_collection", self.collection)
        text = (described.get("properties") or {}).get(RECORD)
        try:
            record = json.loads(text) if text else None
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
            raise InputError(f"collection {self.collection!r} at {self.config.uri!r} was not made by twinbert (no "
                             f"{RECORD!r} record); choose another collection=", argument="collection")
        return record

    def create(self, record: dict, id_kind: str, lexical: bool) -> None:
        """A new collection for ``record`` (its dimension, metric, lexical settings), indexed and loaded."""
        pymilvus = require("pymilvus", "a Milvus index (backend='milvus')")
        types = pymilvus.DataType
        schema = self.client.create_schema(auto_id=False)
        if id_kind == "int":
            schema.add_field("id", types.INT64, is_primary=True)
        else:
            schema.add_field("id", types.VARCHAR, is_primary=True, max_length=ID_BYTES)
        schema.add_field("vector", types.FLOAT_VECTOR, dim=int(record["dimension"]))
        schema.add_field("text", types.VARCHAR, max_length=VARCHAR_BYTES, nullable=True)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type=INDEX_TYPES[self.config.index_type], metric_type=METRICS[record["metric"]],
                        params=self.config.build_params())
        if lexical:
            analyser = self.config.engine_analyser or {"tokenizer": "standard"}
            schema.add_field("terms", types.VARCHAR, max_length=VARCHAR_BYTES, enable_analyzer=True,
                             analyzer_params=analyser)
            schema.add_field("sparse", types.SPARSE_FLOAT_VECTOR)
            schema.add_function(pymilvus.Function(name="bm25", function_type=pymilvus.FunctionType.BM25,
                                                  input_field_names=["terms"], output_field_names=["sparse"]))
            bm25 = record["lexical"]
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params={"bm25_k1": bm25["k1"], "bm25_b": bm25["b"]})
        self._call("creating the collection", "create_collection", self.collection, schema=schema,
                   index_params=index, consistency_level=self.config.consistency,
                   properties={RECORD: json.dumps(record, ensure_ascii=False)})

    def load(self) -> None:
        self._call("loading the collection", "load_collection", self.collection)

    def drop(self) -> None:
        self._call("dropping the collection", "drop_collection", self.collection)

    def count(self) -> int:
        rows = self._call("counting rows", "query", self.collection, filter="", output_fields=["count(*)"],
                          consistency_level=self.config.consistency)
        return int(rows[0]["count(*)"])

    # ------------------------------------------------------------- writing

    def present(self, ids: Sequence[Any]) -> set:
        """Which of ``ids`` the collection holds (asked in batches of ``batch_rows``)."""
        found: set = set()
        for start in range(0, len(ids), self.config.batch_rows):
            part = list(ids[start:start + self.config.batch_rows])
            rows = self._call("looking up ids", "get", self.collection, ids=part, output_fields=["id"],
                              consistency_level=self.config.consistency)
            found.update(row["id"] for row in rows)
        return found

    def insert(self, rows: list[dict], done: int = 0) -> None:
        """Insert ``rows`` in calls of ``batch_rows``; a failure says how many went in (``done`` before these)."""
        for start in range(0, len(rows), self.config.batch_rows):
            part = rows[start:start + self.config.batch_rows]
            try:
                self.client.insert(self.collection, part, timeout=self.config.timeout)
            except Exception as exc:
                raise OutputError(f"Milvus at {self.config.uri!r}, collection {self.collection!r}: inserting failed "
                                  f"after {done + start} rows ({_milvus_error(exc)}); run the same build again "
                                  "to insert what is missing (rows already there are kept, never duplicated)") from exc

    def flush(self) -> None:
        self._call("flushing", "flush", self.collection)

    # ------------------------------------------------------------- searching

    def dense(self, vectors: np.ndarray, k: int, metric: str) -> list[list[tuple[Any, float, Any]]]:
        """(id, score, text) of the ``k`` nearest rows of each query vector, best first."""
        params = {"metric_type": METRICS[metric], "params": self._knobs(k)}
        found = self._call("searching", "search", self.collection, data=[v.tolist() for v in vectors],
                           anns_field="vector", limit=k, output_fields=["text"], search_params=params,
                           consistency_level=self.config.consistency)
        convert = (lambda d: -float(np.sqrt(max(d, 0.0)))) if metric == "euclidean" else float
        return [[(hit["id"], convert(hit["distance"]), hit["entity"].get("text")) for hit in row] for row in found]

    def _knobs(self, k: int) -> dict:
        knobs = self.config.search_params()
        if "ef" in knobs:
            knobs["ef"] = max(knobs["ef"], k)  # HNSW needs ef >= k (twinbert's own hnsw raises it alike)
        return knobs

    def lexical(self, queries: Sequence[str], k: int, among: Sequence[Any] | None = None) -> list[list[tuple]]:
        """(id, BM25 score, text) of the ``k`` best rows of each analysed query (``among``: only these ids)."""
        kept = [q for q in queries if q.strip()]
        found = iter(self._call("searching the lexical part", "search", self.collection, data=kept,
                                anns_field="sparse", limit=k, output_fields=["text"], filter=self._among(among),
                                search_params={"metric_type": "BM25"},
                                consistency_level=self.config.consistency) if kept else [])
        return [[(hit["id"], abs(float(hit["distance"])), hit["entity"].get("text")) for hit in next(found)]
                if q.strip() else [] for q in queries]

    @staticmethod
    def _among(ids: Sequence[Any] | None) -> str:
        return "" if ids is None else f"id in {json.dumps(list(ids), ensure_ascii=False)}"

    def vectors(self, ids: Sequence[Any]) -> dict[Any, np.ndarray]:
        """The stored vectors of ``ids``, by id."""
        rows = self._call("reading vectors", "get", self.collection, ids=list(ids), output_fields=["vector"],
                          consistency_level=self.config.consistency)
        return {row["id"]: np.asarray(row["vector"], dtype=np.float32) for row in rows}

    def rows(self, fields: list[str], batch: int = 1000) -> Iterator[dict]:
        """Every row's ``fields``, in batches (the engine's order)."""
        iterator = self._call("reading rows", "query_iterator", self.collection, batch_size=batch,
                              output_fields=fields)
        while True:
            part = iterator.next()
            if not part:
                iterator.close()
                return
            yield from part


__all__ = ["CONSISTENCY", "DEFAULTS", "INDEX_TYPES", "LITE_LACKS", "METRICS", "Engine", "MilvusConfig"]
