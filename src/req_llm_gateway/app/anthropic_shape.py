"""Errors on the Anthropic routes (`/v1/messages...`) in Anthropic's shape, whoever answered: the
middleware shared with the chat route (auth, rate limits, the header cap) and Starlette's 404/405 render
OpenAI's body, which this pure-ASGI middleware rewrites on those paths only."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..apis.anthropic_errors import from_openai
from .auth import route_path

__all__ = ["AnthropicErrorShape"]

PREFIX = "/v1/messages"


class AnthropicErrorShape:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        held: Message | None = None

        async def reshape(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message  # wait for the body: it may need rewriting
                return
            if held is not None and message["type"] == "http.response.body":
                start, held = held, None
                body = message.get("body", b"")
                new = None if message.get("more_body") else from_openai(start["status"], body)
                if new is not None:
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    start = {**start, "headers": [*headers, (b"content-length", str(len(new)).encode())]}
                    message = {**message, "body": new}
                await send(start)
            await send(message)

        await self.app(scope, receive, reshape)
