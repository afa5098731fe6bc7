"""Serve an ASGI app with uvicorn on a loopback port, in a background thread.

Used for the fake upstreams: tests get a real socket and a real HTTP stack between the
gateway and the fake, exactly as in production.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


class LoopbackServer:
    """A context manager running `app` on `http://127.0.0.1:<free port>`.

    >>> with LoopbackServer(app) as server:   # doctest: +SKIP
    ...     httpx.get(server.url + "/v1/models")

    The socket is bound before the thread starts, so `url` is known at once; `__enter__`
    returns when uvicorn reports `started`. `__exit__` asks uvicorn to stop, cancels requests
    still in flight after one second (a fake told to `hang`), and joins the thread.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="off",
            loop="asyncio",
            log_config=None,  # never reconfigure the test process's logging
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"loopback-{self.port}",
        )

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. `http://127.0.0.1:53211`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise RuntimeError(f"fake server on port {self.port} did not start")
            time.sleep(0.001)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT_S)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
