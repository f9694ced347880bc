"""Run the app with uvicorn until SIGTERM / Ctrl-C, then drain: stop accepting, let the requests in
flight finish (up to graceful_timeout), stop the batcher, return normally (exit code 0)."""
from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import threading
import time

from .config import ServeConfig

log = logging.getLogger("twinbert")


def bind(config: ServeConfig) -> socket.socket:
    """The listening address taken now (uvicorn listens on it later): a port in use, or a host that is not
    an address of this machine, is one OutputError naming it (exit 2), not uvicorn's log and exit 3."""
    from ..errors import OutputError

    try:
        infos = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OutputError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                          argument="host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        busy = exc.errno == errno.EADDRINUSE
        raise OutputError(f"port {config.port} is in use on {config.host}: stop what listens there or give "
                          "another port" if busy else f"cannot listen on {config.host}:{config.port}: "
                          f"{exc.strerror or exc}", argument="port" if busy else "host") from None
    sock.set_inheritable(True)
    return sock


def run_server(app, config: ServeConfig, sock: socket.socket | None = None) -> None:
    """Serve `app` on `sock` (bind()'s; taken here when not given) until SIGTERM / Ctrl-C, then drain."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn re-raises the signal after its shutdown (the process would die by SIGTERM, 143);
            # a drained server has done what was asked: it returns, and the command exits 0
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    settings = uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", access_log=False,
                              timeout_graceful_shutdown=config.graceful_timeout, lifespan="on",
                              limit_concurrency=None, timeout_keep_alive=5)
    server = DrainingServer(settings)
    own = sock is None
    sock = bind(config) if own else sock
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn's exit on a failed start (its log line said why)
        pass
    finally:
        if own:
            sock.close()
    if not server.started:
        from ..errors import OutputError

        raise OutputError(f"cannot listen on {config.host}:{config.port} (in use, or not an address of this machine)",
                          argument="port")
    log.info("twinbert serve: stopped")


class Background:
    """A server in a thread of this process (a notebook, a test): `url` once it answers /health, `stop()`
    (or use it as a context manager). Port 0 picks a free port."""

    def __init__(self, served, timeout: float = 120.0):
        import uvicorn

        from .app import create_app

        config = served.config
        self.served = served
        self._server = uvicorn.Server(uvicorn.Config(create_app(served), host=config.host, port=config.port,
                                                     log_level="warning", access_log=False, lifespan="on",
                                                     timeout_graceful_shutdown=config.graceful_timeout))
        self._thread = threading.Thread(target=self._server.run, name="twinbert-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server.started and served.ready):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                from ..errors import OutputError

                raise OutputError(f"the server did not start on {config.host}:{config.port}", argument="port")
            time.sleep(0.02)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Drain like SIGTERM: finish the requests in flight, then stop."""
        self._server.should_exit = True
        self._thread.join()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
