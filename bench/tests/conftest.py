"""Make the bench modules importable and provide a running mock upstream."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

import targets  # noqa: E402


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    port = targets.free_port()
    proc = subprocess.Popen([sys.executable, str(BENCH / "mock_upstream.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.02)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
