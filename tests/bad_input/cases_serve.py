"""Bad input for twinbert serve: everything is checked before the server listens, so a wrong model, index
or flag is one line and exit 2, never a server that answers 500s."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bad_input.cases import Case

S = "{root}/serve/"
BUSY_PORT = 18998
_listening = []  # the socket that keeps BUSY_PORT busy while the cases run


def build(root: Path, tiny: Path) -> None:
    import twinbert
    from twinbert.search import Index

    s = root / "serve"
    s.mkdir()
    Index.build(embeddings=np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32),
                model_name="another-model").save(s / "ix-other")
    Index.build(texts=["the cat sat on the mat", "a dog is happy"], encoder=twinbert.load(str(tiny))).save(s / "ix")
    (s / "not-an-index").mkdir()
    (s / "not-cl100k.tiktoken").write_text("IQ== 0\n", encoding="utf-8")
    import socket

    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", BUSY_PORT))
        listener.listen()
        _listening.append(listener)
    except OSError:  # something else listens there already: the port is just as busy
        listener.close()


CASES = [
    Case("serve-missing-model", "serve a model folder that does not exist",
         ("serve", S + "no-model", "--port", "18999"), 2, "no-model"),
    Case("serve-index-of-another-model", "serve with an index built by another model",
         ("serve", "{tiny}", "--index", S + "ix-other", "--port", "18999"), 2, "dimension"),
    Case("serve-index-missing", "serve with --index naming a folder that is no index",
         ("serve", "{tiny}", "--index", S + "not-an-index", "--port", "18999"), 2, "not-an-index"),
    Case("serve-writes-without-index", "serve --allow-writes without --index",
         ("serve", "{tiny}", "--allow-writes", "--port", "18999"), 2, "--allow-writes needs an index"),
    Case("serve-classifier-is-cross-encoder", "serve --classifier with a model that is no classifier",
         ("serve", "{tiny}", "--classifier", S + "no-classifier", "--port", "18999"), 2, "no-classifier"),
    Case("serve-port-out-of-range", "serve --port 70000",
         ("serve", "{tiny}", "--port", "70000"), 2, "argument --port: expected a port number 1..65535"),
    Case("serve-port-zero", "serve --port 0",
         ("serve", "{tiny}", "--port", "0"), 2, "argument --port: expected a positive integer"),
    Case("serve-timeout-zero", "serve --request-timeout 0",
         ("serve", "{tiny}", "--request-timeout", "0"), 2, "argument --request-timeout: expected a positive number"),
    Case("serve-port-busy", "serve on a port another program listens on",
         ("serve", "{tiny}", "--port", str(BUSY_PORT)), 2, f"port {BUSY_PORT} is in use on 127.0.0.1"),
    Case("serve-same-model-twice", "serve the same model twice",
         ("serve", "{tiny}", "{tiny}", "--port", "18999"), 2, "would both answer to model="),
    Case("serve-openai-encoding-wrong-file", "serve --openai-encoding with a file that is not cl100k_base",
         ("serve", "{tiny}", "--openai-encoding", S + "not-cl100k.tiktoken", "--port", "18999"), 2,
         "not-cl100k.tiktoken is not OpenAI's cl100k_base encoding file"),
    Case("serve-openai-encoding-missing", "serve --openai-encoding with a file that does not exist",
         ("serve", "{tiny}", "--openai-encoding", S + "nothing.tiktoken", "--port", "18999"), 2,
         "--openai-encoding"),
    Case("serve-batch-tokens-zero", "serve --max-batch-tokens 0",
         ("serve", "{tiny}", "--max-batch-tokens", "0"), 2, "argument --max-batch-tokens: expected a positive integer"),
]
