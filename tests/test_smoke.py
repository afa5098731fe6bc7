import openai

from tests.conftest import serve_gateway


def test_openai_sdk_gets_demo_answer_over_a_real_socket() -> None:
    with serve_gateway() as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x")
        reply = client.chat.completions.create(model="demo:echo", messages=[{"role": "user", "content": "ping pong"}])
        assert reply.choices[0].message.content == "ping pong"
