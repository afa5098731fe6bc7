"""`LoopbackServer`: serve any ASGI app with uvicorn on 127.0.0.1, port 0, in a background thread.

Used for the gateway and the fake upstreams alike: tests get a real socket and a real HTTP stack.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


class LoopbackServer:
    """    with LoopbackServer(app) as srv:
            httpx.get(srv.url + "/health")

    The socket is bound before the thread starts, so `url` is known at once; `__enter__` returns
    when uvicorn reports `started`. `__exit__` asks uvicorn to stop, cancels requests still in
    flight after the graceful timeout (a fake told to `hang`), and joins the thread.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", **config: Any) -> None:
        self.app = app
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        options = {"log_level": "warning", "lifespan": "auto", "access_log": False, "loop": "asyncio",
                   "log_config": None, "timeout_graceful_shutdown": 2, **config}
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"loopback-{self.port}")

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise RuntimeError(f"loopback server on port {self.port} did not start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(_STOP_TIMEOUT_S)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(_STOP_TIMEOUT_S)
        self.sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
