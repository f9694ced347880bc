"""The door of the server: API key (401), overload (429 at once), body size (413), slow bodies (408),
input tokens (413 / truncation), batch size, unknown routes — each in the shape of the API called."""
from __future__ import annotations

import socket
import threading
import time

import httpx
import numpy as np
import pytest

from serve.running import start

KEY = {"Authorization": "Bearer s3cret"}


@pytest.fixture(scope="module")
def small(tiny_bert):
    running = start(str(tiny_bert), api_key="s3cret", max_concurrent_requests=2, payload_limit=4000,
                    request_timeout=2.0, max_client_batch_size=4, max_input_tokens=8)
    yield running
    running.stop()


def test_the_key_is_needed_everywhere_but_health_page_schema_and_metrics(small):
    for route in ("/embed", "/v1/embeddings", "/tokenize", "/", "/invocations", "/v1/rerank"):
        refused = httpx.post(small.url + route, json={"inputs": "a", "input": "a"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", route
    assert httpx.get(small.url + "/info").status_code == 401
    assert httpx.get(small.url + "/v1/models").status_code == 401
    # scrapers carry no key (TEI keeps /metrics open too); nor do health checks and the docs page
    assert httpx.get(small.url + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 200
    for route in ("/ping", "/docs"):
        assert httpx.get(small.url + route).status_code == 200, route
    openai_shape = httpx.post(small.url + "/v1/embeddings", json={"input": "a"}).json()["error"]
    assert openai_shape["type"] == "authentication_error" and "Authorization: Bearer" in openai_shape["message"]
    for route in ("/health", "/", "/openapi.json"):
        assert httpx.get(small.url + route).status_code == 200, route
    assert httpx.post(small.url + "/embed", json={"inputs": "a"}, headers=KEY).status_code == 200


def slow_request(url: str, sent: threading.Event, hold: float) -> bytes:
    """A POST whose body arrives `hold` seconds after its headers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        body = b'{"inputs": "a cat"}'
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                  b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        sent.set()
        time.sleep(hold)
        try:
            s.sendall(body)
        except OSError:
            pass
        s.settimeout(10)
        return s.recv(65536)


def test_overload_is_refused_at_once_with_429(small):
    started = [threading.Event(), threading.Event()]
    answers: list = [None, None]
    threads = [threading.Thread(target=lambda k=k: answers.__setitem__(k, slow_request(small.url, started[k], 1.0)))
               for k in range(2)]
    for thread in threads:
        thread.start()
    for event in started:
        event.wait(5)
    time.sleep(0.2)  # both are in flight, waiting for their bodies
    begin = time.perf_counter()
    refused = httpx.post(small.url + "/embed", json={"inputs": "a"}, headers=KEY)
    elapsed = time.perf_counter() - begin
    for thread in threads:
        thread.join(10)
    assert refused.status_code == 429 and refused.json()["error_type"] == "overloaded"
    assert refused.headers["retry-after"] == "1" and elapsed < 0.5
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers  # the accepted ones are served
    assert httpx.post(small.url + "/embed", json={"inputs": "a"}, headers=KEY).status_code == 200


def test_a_body_that_never_arrives_times_out_with_408(small):
    answer = slow_request(small.url, threading.Event(), 3.0)
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 2 s" in answer


def test_bodies_over_the_payload_limit_get_413(small):
    big = {"inputs": "a " * 3000}
    declared = httpx.post(small.url + "/embed", json=big, headers=KEY)
    assert declared.status_code == 413 and "more than the limit of 4000" in declared.json()["error"]

    def chunks():
        yield b'{"inputs": "'
        for _ in range(10):
            yield b"a " * 500
        yield b'"}'

    streamed = httpx.post(small.url + "/embed", content=chunks(), headers={**KEY, "Content-Type": "application/json"})
    assert streamed.status_code == 413
    openai = httpx.post(small.url + "/v1/embeddings", json={"input": "a " * 3000}, headers=KEY)
    assert openai.status_code == 413 and openai.json()["error"]["type"] == "invalid_request_error"


def test_max_input_tokens_and_client_batch_size(small):
    long = "the cat sat on the mat and the dog"  # 9 words + [CLS] [SEP] = 11 tokens > 8
    refused = httpx.post(small.url + "/embed", json={"inputs": long, "truncate": False}, headers=KEY)
    assert refused.status_code == 413 and "11 tokens, more than the limit of 8" in refused.json()["error"]
    cut = httpx.post(small.url + "/embed", json={"inputs": long}, headers=KEY)  # auto-truncate: TEI >= 1.9.2
    same = httpx.post(small.url + "/embed", json={"inputs": "the cat sat on the mat"}, headers=KEY)
    assert cut.status_code == 200
    np.testing.assert_allclose(cut.json(), same.json(), atol=1e-6)
    tokens = httpx.post(small.url + "/v1/embeddings", json={"input": long}, headers=KEY).json()["usage"]
    assert tokens["prompt_tokens"] == 8  # OpenAI's route cuts, as encode does
    assert httpx.post(small.url + "/embed", json={"inputs": ["a"] * 5}, headers=KEY).status_code == 413


def test_unknown_routes_and_methods_are_4xx_in_shape(small):
    missing = httpx.get(small.url + "/nope", headers=KEY)
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    wrong = httpx.get(small.url + "/embed", headers=KEY)
    assert wrong.status_code == 405
    v1 = httpx.get(small.url + "/v1/nope", headers=KEY)
    assert v1.status_code == 404 and v1.json()["error"]["type"] == "not_found_error"
