"""`/openapi.json` describes the routes the app serves, with the bearer scheme only when keys are set."""

from __future__ import annotations

import httpx

from tests.conftest import serve_gateway


def test_the_document_lists_the_gateways_routes_and_no_auth_when_open() -> None:
    with serve_gateway() as gw:
        doc = httpx.get(gw.url + "/openapi.json").json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "req-llm-gateway"
    assert {"/v1/chat/completions", "/v1/responses", "/v1/models", "/health", "/openapi.json"} <= set(doc["paths"])
    assert doc["paths"]["/v1/responses"]["post"]["operationId"] == "createResponse"
    assert "security" not in doc and "securitySchemes" not in doc["components"]
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]) >= {"200", "400", "404", "413", "429", "502", "504"} and "401" not in chat["responses"]
    assert doc["components"]["schemas"]["ChatRequest"]["required"] == ["model", "messages"]


def test_with_keys_protected_routes_need_the_bearer_scheme_and_health_does_not() -> None:
    with serve_gateway({"REQ_LLM_GATEWAY_API_KEY": "doc-key-123"}) as gw:
        r = httpx.get(gw.url + "/openapi.json")
    doc = r.json()
    assert r.status_code == 200  # the document itself needs no key
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert "401" in doc["paths"]["/v1/chat/completions"]["post"]["responses"]


def test_the_embeddings_route_is_listed_with_its_request_and_errors() -> None:
    with serve_gateway() as gw:
        doc = httpx.get(gw.url + "/openapi.json").json()
    op = doc["paths"]["/v1/embeddings"]["post"]
    assert op["operationId"] == "createEmbeddings"
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["model", "input"]
    assert schema["properties"]["encoding_format"]["enum"] == ["float", "base64", None]
    assert {"200", "400", "404", "429", "502"} <= set(op["responses"])
