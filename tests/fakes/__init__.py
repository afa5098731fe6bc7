"""Fake upstream provider APIs speaking the real wire formats, served on loopback sockets."""

from .recording import RecordedRequest
from .server import LoopbackServer

__all__ = ["LoopbackServer", "RecordedRequest"]
