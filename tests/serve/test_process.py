"""`twinbert serve` as a user starts it: a child process, /health, then SIGTERM in the middle of a load:
every request in flight is answered, new connections are refused, and the exit code is 0."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from serve.running import free_port


def start_cli(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "twinbert", "serve", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become healthy")


def test_sigterm_mid_load_answers_the_requests_in_flight_then_exits_0(tiny_bert):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_cli(tiny_bert, "--port", port, env={"TWINBERT_API_KEY": "k3y"})  # the key from the environment
    try:
        wait_healthy(url, process)
        assert httpx.post(url + "/embed", json={"inputs": "a cat"}).status_code == 401
        results: list = []
        long_batch = {"inputs": [" ".join(["the cat sat on the mat"] * 10)] * 32, "truncate": True}

        def client() -> None:
            with httpx.Client(base_url=url, headers={"Authorization": "Bearer k3y"}, timeout=60) as c:
                for _ in range(50):
                    try:
                        results.append(c.post("/embed", json=long_batch).status_code)
                    except httpx.TransportError as e:  # after the drain: no new connection is accepted
                        results.append(type(e).__name__)
                        return

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        while len([r for r in results if r == 200]) < 8:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(120)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert code == 0, stderr
    answered = [r for r in results if isinstance(r, int)]
    assert answered and set(answered) == {200}, results  # nothing in flight was dropped or failed
    assert "Traceback" not in stderr


def test_a_bad_model_fails_before_listening(tmp_path):
    process = start_cli(tmp_path / "missing", "--port", free_port())
    assert process.wait(120) == 2
    assert process.stderr.read().strip().splitlines()[-1].startswith("twinbert serve: error: ")
