"""Retrieval of long documents by their chunks: each document cut and embedded by chunking ("chunks" or
"late", twinbert.chunking), the documents ranked by their best chunk through a document index
(twinbert.search.Index with chunking), scored like any retrieval (twinbert.evaluate.retrieval)."""
from __future__ import annotations

from ..errors import InputError

CHUNKINGS = ("none", "chunks", "late")


def check_chunking(chunking: str | None, chunk_tokens: int | None, overlap: int | None) -> str:
    """The chunking asked ("none" when not), or an InputError naming the argument."""
    if chunking is None:
        chunking = "none"
    if chunking not in CHUNKINGS:
        raise InputError(f"chunking={chunking!r}: expected one of {', '.join(CHUNKINGS)} (none: each document "
                         "cut at max_seq_length)", argument="chunking")
    if chunking == "none" and (chunk_tokens is not None or overlap is not None):
        raise InputError("chunk_tokens and overlap size the chunks of chunking='chunks' or 'late'; give chunking too",
                         argument="chunking")
    return chunking


def rank_by_chunks(encoder, queries: list[str], corpus_ids: list[str], documents: list[str], depth: int, *,
                   chunking: str, chunk_tokens: int | None, overlap: int | None, metric: str, options: dict,
                   details: dict | None = None) -> list[list[str]]:
    """Document ids ranked for each query by the best chunk's score (ties by id), `depth` deep. The
    documents get the model's passage prompt and the queries its query prompt (twinbert.search.prompts)
    unless `options` names a prompt; `details` gets the chunking used and the number of chunks."""
    from ..search import Index

    prompt = {key: options[key] for key in ("prompt_name", "prompt") if options.get(key) is not None}
    rest = {key: value for key, value in options.items() if key not in ("prompt_name", "prompt")}
    if rest:
        raise InputError(f"chunking evaluates with the model's own settings; {', '.join(sorted(rest))} cannot be "
                         "combined with it", argument=sorted(rest)[0])
    index = Index.build(texts=documents, ids=corpus_ids, encoder=encoder, metric=metric, chunking=chunking,
                        chunk_tokens=chunk_tokens, overlap=overlap, **prompt)
    hits = index.search(queries, k=min(depth, len(documents)), encoder=encoder, **prompt)
    if details is not None:
        details["chunking"] = {**index.documents.chunking, "chunks": len(index)}
    return [[hit["id"] for hit in sorted(row, key=lambda hit: (-hit["score"], str(hit["id"])))] for row in hits]


__all__ = ["CHUNKINGS", "check_chunking", "rank_by_chunks"]
