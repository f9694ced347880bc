"""Start a real twinbert server on 127.0.0.1 in a thread of the test process (twinbert.serve.Background)."""
from __future__ import annotations

import socket

CORPUS = ["A man is eating food.", "A man is riding a horse.", "A woman is playing violin.",
          "Two men pushed carts through the woods.", "A monkey is playing drums.", "A cat sits on the mat.",
          "The stock market fell sharply today.", "Someone is slicing an onion."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model, **config):
    """A Background server (url, served, stop()) for `model`; `config`: ServeConfig fields and the
    cross_encoder / classifier / index / auto_truncate of load_served."""
    from twinbert.serve import Background, ServeConfig, load_served

    loads = {k: config.pop(k) for k in ("cross_encoder", "classifier", "index", "auto_truncate") if k in config}
    return Background(load_served(model, ServeConfig(port=0, **config), **loads))
