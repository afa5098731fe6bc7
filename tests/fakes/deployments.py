"""Several fake OpenAI-compatible deployments of one model (three vLLM replicas, two Azure regions), each
on its own loopback socket, for the routing tests. Each one is the fake OpenAI API (`openai.py`) behind a
switch: `fail_with = 500` makes it answer that status with OpenAI's error body until set back to None.

    with Deployments("east", "west", "north") as deps:
        config = deps.providers_toml()             # [providers.east] wire = "openai" base_url = ... per deployment
        deps["east"].fail_with = 503
        deps["west"].served                        # chat completions it answered with 200
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from starlette.types import Receive, Scope, Send

from .openai import OPENAI, create_app
from .server import LoopbackServer


class Deployment:
    def __init__(self, name: str) -> None:
        self.name = name
        self.fake = create_app()
        self.fail_with: int | None = None
        self.served = 0
        self.failed = 0
        self.server = LoopbackServer(self)

    @property
    def url(self) -> str:
        return self.server.url + "/v1"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/chat/completions"):
            if self.fail_with is not None:
                self.failed += 1
                await OPENAI.scripted(self.fail_with, "gpt-4o")(scope, receive, send)
                return
            self.served += 1
        await self.fake(scope, receive, send)


class Deployments:
    def __init__(self, *names: str) -> None:
        self.by_name = {n: Deployment(n) for n in names}
        self._stack = contextlib.ExitStack()

    def __getitem__(self, name: str) -> Deployment:
        return self.by_name[name]

    def providers_toml(self) -> str:
        """One `[providers.NAME]` table per deployment: OpenAI's wire format at its socket."""
        return "".join(f'[providers.{n}]\nwire = "openai"\nbase_url = "{d.url}"\napi_key = "sk-{n}"\n\n'
                       for n, d in self.by_name.items())

    def served(self) -> dict[str, int]:
        return {n: d.served for n, d in self.by_name.items()}

    def __enter__(self) -> Deployments:
        for d in self.by_name.values():
            self._stack.enter_context(d.server)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Any:
        self._stack.close()
