"""Search over embeddings: exact top-k, paraphrase mining and a persistent index.

Scores are always "higher = more similar"; for the euclidean and manhattan metrics that
means the NEGATIVE distance.
"""

from twinbert.search.exact import semantic_search
from twinbert.search.index import Index
from twinbert.search.mining import paraphrase_mining

__all__ = ["Index", "paraphrase_mining", "semantic_search"]
