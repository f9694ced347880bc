"""twinbert: BERT-family models as sentence encoders, the Sentence-BERT way."""
__version__ = "0.1.0"

from .encoder import SentenceEncoder, load  # noqa: E402
from .errors import InputError, ModelLoadError, OutputError, TwinbertError  # noqa: E402
from .similarity import similarity  # noqa: E402


def __getattr__(name):  # search is imported on first use: it is not needed to encode
    if name in ("semantic_search", "paraphrase_mining", "Index"):
        from . import search
        return getattr(search, name)
    raise AttributeError(f"module 'twinbert' has no attribute {name!r}")


__all__ = ["SentenceEncoder", "load", "similarity", "semantic_search", "paraphrase_mining", "Index",
           "TwinbertError", "ModelLoadError", "InputError", "OutputError", "__version__"]
