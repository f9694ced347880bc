"""Request bodies of every route, as pydantic models: they check the JSON and make /openapi.json.

Strict: a number where a text belongs (or "1" where a number belongs) is a 422, not a silent cast.
Field names and defaults follow the API each route copies (OpenAI's embeddings, TEI's routes).
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _unicode(text: str) -> str:
    """JSON can carry lone surrogates ("\\ud800"), which are no text: refused here, not in the tokenizer."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"holds {text[e.start:e.end]!a} at position {e.start}, which is not valid Unicode "
                             "(a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(_unicode)]
Ids = list[int]
# strings, or token ids of the model's vocabulary (without special tokens)
Inputs = Union[Text, list[Text], Ids, list[Ids]]  # noqa: UP007 - pydantic's schema names read better this way
Direction = Literal["Right", "Left", "right", "left"]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class EmbeddingsRequest(_Body):
    """OpenAI's POST /v1/embeddings."""
    input: Inputs = Field(description="a text, a list of texts, a list of token ids (OpenAI's cl100k_base ids, "
                                      "decoded to text) or a list of such lists")
    model: Text | None = Field(None, description="a served model's name or alias (any name when one is served)")
    encoding_format: Literal["float", "base64"] = Field("float", description="base64: little-endian float32")
    dimensions: int | None = Field(None, ge=1, description="keep the first N values, then L2-normalize")
    user: Text | None = None
    prompt_name: Text | None = Field(None, description="twinbert extension: one of the model's prompts, e.g. query")
    token_ids: Literal["openai", "model"] = Field(
        "openai", description="twinbert extension: whose ids `input` holds: OpenAI's cl100k_base (the API's "
                              "meaning) or this model's vocabulary (without special tokens)")


class EmbedRequest(_Body):
    """TEI's POST /embed."""
    inputs: Inputs
    normalize: bool = True
    truncate: bool | None = Field(None, description="cut inputs over the token limit (default: refuse them, 413)")
    truncation_direction: Direction = "Right"
    prompt_name: Text | None = None
    dimensions: int | None = Field(None, ge=1)


class EmbedAllRequest(_Body):
    """TEI's POST /embed_all: every token's vector."""
    inputs: Inputs
    truncate: bool | None = None
    truncation_direction: Direction = "Right"
    prompt_name: Text | None = None


class SimilarityInputs(_Body):
    source_sentence: Text
    sentences: list[Text]


class SimilarityRequest(_Body):
    """TEI's POST /similarity: cosine of each sentence with the source sentence."""
    inputs: SimilarityInputs
    truncate: bool | None = None
    truncation_direction: Direction = "Right"
    prompt_name: Text | None = None


class RerankRequest(_Body):
    """TEI's POST /rerank (needs --cross-encoder)."""
    query: Text
    texts: list[Text]
    truncate: bool | None = None
    truncation_direction: Direction = "Right"
    raw_scores: bool = False
    return_text: bool = False


# one text, a pair [a, b], or a batch of texts and pairs
PredictInputs = Union[Text, list[Union[Text, list[Text]]]]  # noqa: UP007


class ClassificationParameters(_Body):
    """huggingface_hub's text_classification parameters (the HF Inference API's shape)."""
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = None
    top_k: int | None = Field(None, ge=1)


class PredictRequest(_Body):
    """TEI's POST /predict (needs --classifier); with `parameters`, huggingface_hub's text_classification."""
    inputs: PredictInputs
    truncate: bool | None = None
    truncation_direction: Direction = "Right"
    raw_scores: bool = False
    parameters: ClassificationParameters | None = Field(
        None, description="the HF Inference API's shape: answer a list per input, top_k labels, function_to_apply")


class DecodeRequest(_Body):
    """TEI's POST /decode: token ids back to text."""
    ids: Union[Ids, list[Ids]]  # noqa: UP007
    skip_special_tokens: bool = True


class CohereDocument(_Body):
    text: Text


class CohereRerankRequest(_Body):
    """Cohere's (v1, v2) and Jina's POST /v1/rerank, /v2/rerank (needs --reranker)."""
    query: Text
    documents: list[Union[Text, CohereDocument]]  # noqa: UP007 - strings, or objects with a text
    model: Text | None = None
    top_n: int | None = Field(None, ge=1, description="the n best documents (default: all)")
    return_documents: bool = Field(False, description="each result carries its document")
    max_chunks_per_doc: int | None = None       # Cohere v1; accepted, documents are not chunked
    max_tokens_per_doc: int | None = None       # Cohere v2; accepted, documents are cut at the model's limit


class TokenizeRequest(_Body):
    """TEI's POST /tokenize."""
    inputs: Union[Text, list[Text]]  # noqa: UP007
    add_special_tokens: bool = True
    prompt_name: Text | None = None


class SearchRequest(_Body):
    """POST /search (needs --index): `query` or `queries`."""
    query: Text | None = None
    queries: list[Text] | None = None
    k: int = Field(10, ge=1, le=1000)
    rerank: bool = Field(False, description="rescore the k hits with the cross-encoder (needs --cross-encoder)")
    mode: Literal["dense", "lexical", "hybrid"] = Field(
        "dense", description="dense (vectors), lexical (BM25) or hybrid (both fused); the last two need an index "
                             "built with --lexical")


class IndexAddRequest(_Body):
    """POST /index/add (needs --index and --allow-writes)."""
    texts: list[Text]
    ids: list[Union[Text, int]] | None = None  # noqa: UP007


class CompareRequest(_Body):
    """POST /compare: the first sentence against the others, with each pooling."""
    sentences: list[Text]
    poolings: list[Text] = ["cls", "mean", "max", "pooler"]
