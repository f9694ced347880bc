"""twinbert: BERT-family models as sentence encoders, the Sentence-BERT way.

The public names are imported on first use, so `import twinbert.data` (readers) stays light.
"""
from __future__ import annotations

from .errors import InputError, ModelLoadError, OutputError, TwinbertError

# eager (and light: torch is imported on first call), so that the name stays the function even after the
# submodule twinbert.similarity is imported elsewhere
from .similarity import similarity

__version__ = "0.1.0"

_LAZY = {
    "load": "encoder", "SentenceEncoder": "encoder",
    "semantic_search": "search", "paraphrase_mining": "search", "Index": "search",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'twinbert' has no attribute {name!r}")


__all__ = ["SentenceEncoder", "load", "similarity", "semantic_search", "paraphrase_mining", "Index",
           "TwinbertError", "ModelLoadError", "InputError", "OutputError", "__version__"]
