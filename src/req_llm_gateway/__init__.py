"""req-llm-gateway: an OpenAI-compatible LLM gateway with observability built in.

    from req_llm_gateway import create_app, telemetry
"""

from . import telemetry
from .app import create_app
from .config import Settings

__all__ = ["Settings", "__version__", "create_app", "telemetry"]
__version__ = "0.1.0"
