"""Schemathesis against /openapi.json on a real socket: generated requests (valid and invalid) for every
route never get a 5xx, never hang, and every answer matches the document (status, content type, schema)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from req_llm_gateway import Settings, create_app
from req_llm_gateway.app.openapi import _version, openapi_document
from tests.conftest import serve_gateway

KEY = "fuzz-key-0123456789"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
ENV = {"REQ_LLM_GATEWAY_API_KEY": KEY, "REQ_LLM_GATEWAY_MAX_REQUEST_BYTES": "65536",
       "REQ_LLM_GATEWAY_CLIENT_TIMEOUT": "5", "REQ_LLM_GATEWAY_RATE_LIMIT": "off",
       "REQ_LLM_GATEWAY_USAGE_STORE": "memory://"}

# The document the served gateway publishes, built the same way (checked by the first test), so the
# operations are known when the tests are collected.
_SETTINGS = Settings.from_env(ENV)
DOCUMENT = openapi_document([getattr(r, "path", "") for r in create_app(_SETTINGS).routes], _SETTINGS, _version())
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Any]:
    with serve_gateway(ENV) as gw:
        yield gw


def test_the_served_document_is_the_one_fuzzed(gateway: Any) -> None:
    served = httpx.get(gateway.url + "/openapi.json").json()
    assert served == DOCUMENT
    assert served["openapi"] == "3.1.0"


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_no_generated_request_gets_a_server_error_or_hangs(case: Any, gateway: Any) -> None:
    response = case.call(base_url=gateway.url, headers={"authorization": f"Bearer {KEY}"}, timeout=10)
    assert response.status_code < 500, (case.body, response.text)
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                             response_schema_conformance, negative_data_rejection])
