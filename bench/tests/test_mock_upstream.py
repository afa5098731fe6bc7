"""The mock upstream speaks OpenAI's wire format over real sockets, with keep-alive."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request

import targets


def _post(conn: http.client.HTTPConnection, body: bytes, **headers: str) -> tuple[int, bytes]:
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json", **headers})
    r = conn.getresponse()
    return r.status, r.read()


def _config(url: str, query: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/_bench/config?{query}", timeout=5) as r:
        return json.loads(r.read())


def test_non_stream_answer_is_a_chat_completion_with_usage(mock_url: str) -> None:
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    status, body = _post(conn, targets.chat_body("gpt-4o-mini", stream=False))
    data = json.loads(body)
    assert status == 200
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 24, "completion_tokens": 20, "total_tokens": 44}


def test_keep_alive_serves_several_requests_on_one_connection(mock_url: str) -> None:
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    statuses = [_post(conn, b'{"model":"m","messages":[]}')[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert conn.sock is not None  # never closed by the server


def test_stream_sends_chunks_then_usage_then_done(mock_url: str) -> None:
    _config(mock_url, "chunks=5&chunk_interval_ms=1&latency_ms=0")
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    status, body = _post(conn, targets.chat_body("gpt-4o-mini", stream=True))
    events = [line[6:] for line in body.decode().split("\n") if line.startswith("data: ")]
    chunks = [json.loads(e) for e in events[:-1]]
    assert status == 200
    assert len(chunks) == 6
    assert [c["choices"][0]["delta"]["content"] for c in chunks[:5]] == ["tok", " tok", " tok", " tok", " tok"]
    assert chunks[4]["choices"][0]["finish_reason"] == "stop"
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["total_tokens"] == 44
    assert events[-1] == "[DONE]"
    _config(mock_url, "chunks=20&chunk_interval_ms=2")


def test_stream_without_include_usage_has_no_usage_chunk(mock_url: str) -> None:
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    _, body = _post(conn, b'{"model": "m", "stream": true}')
    events = [line for line in body.decode().split("\n") if line.startswith("data: ")]
    assert len(events) == 21
    assert '"usage"' not in body.decode()


def test_chunked_request_body_is_understood(mock_url: str) -> None:
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    conn.request("POST", "/v1/chat/completions", body=iter([b'{"model":"m",', b'"stream":true}']),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    body = conn.getresponse().read()
    assert body.decode().rstrip().endswith("data: [DONE]")


def test_latency_setting_delays_the_answer(mock_url: str) -> None:
    _config(mock_url, "latency_ms=60")
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    t0 = time.perf_counter()
    status, _ = _post(conn, b'{"model":"m"}')
    elapsed = time.perf_counter() - t0
    _config(mock_url, "latency_ms=0")
    assert status == 200
    assert elapsed >= 0.055


def test_stats_count_what_was_served(mock_url: str) -> None:
    before = _config(mock_url, "")["served"]
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    _post(conn, b'{"model":"m"}')
    _post(conn, b'{"model":"m","stream":true}')
    after = _config(mock_url, "")["served"]
    assert after["json"] - before["json"] == 1  # type: ignore[index]
    assert after["stream"] - before["stream"] == 1  # type: ignore[index]


def test_the_other_apis_answer_in_their_own_shapes(mock_url: str) -> None:
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    answers = {}
    for path in ("/v1/embeddings", "/v1/responses", "/v1/messages"):
        conn.request("POST", path, body=b'{"model":"m"}', headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        answers[path] = (r.status, json.loads(r.read()))
    assert answers["/v1/embeddings"][1]["data"][0]["object"] == "embedding"
    assert answers["/v1/responses"][1]["object"] == "response"
    assert answers["/v1/messages"][1]["type"] == "message"
    assert {status for status, _ in answers.values()} == {200}


def test_an_anthropic_stream_has_its_events_in_order(mock_url: str) -> None:
    _config(mock_url, "chunks=3&chunk_interval_ms=0")
    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    conn.request("POST", "/v1/messages", body=b'{"model":"m","stream":true}', headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    events = [line.split(b" ", 1)[1] for line in r.read().splitlines() if line.startswith(b"event: ")]
    assert events == [b"message_start", b"content_block_start", *[b"content_block_delta"] * 3,
                      b"content_block_stop", b"message_delta", b"message_stop"]


def test_embeddings_answer_is_one_base64_vector_as_the_sdk_asks(mock_url: str) -> None:
    import array
    import base64

    conn = http.client.HTTPConnection(mock_url.split("//")[1])
    conn.request("POST", "/v1/embeddings", body=targets.embeddings_body("openai:gpt-4o-mini"),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = json.loads(r.read())
    assert r.status == 200 and data["object"] == "list"
    assert len(array.array("f", base64.b64decode(data["data"][0]["embedding"]))) == 1536
    assert json.loads(targets.embeddings_body("openai:gpt-4o-mini"))["model"] == "openai:text-embedding-3-small"
