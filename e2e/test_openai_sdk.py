"""The official OpenAI Python SDK pointed at the running llmflow binary."""
import os

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

import mock_upstream

KEY = "sk-e2e-SECRETKEY-do-not-store"


def client(app):
    return OpenAI(base_url=f"{app.proxy}/v1", api_key=KEY, max_retries=0)


def test_chat_non_stream(llmflow):
    raw = client(llmflow).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
    )
    assert raw.headers["x-request-id"] == "req_e2e_123"
    resp = raw.parse()
    assert resp.choices[0].message.content == "Hello! How can I help you today?"
    assert resp.usage.total_tokens == 29
    t = llmflow.wait_for_spans(1)["traces"][0]
    assert t["model"] == "gpt-4o-mini-2024-07-18"
    assert (t["prompt_tokens"], t["completion_tokens"]) == (19, 10)
    assert t["estimated_cost"] > 0
    assert t["streamed"] is False


def test_chat_stream_gets_exactly_what_it_asked_for(llmflow):
    stream = client(llmflow).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello! How can I help you today?"
    # The client did not ask for usage: no usage-only chunk reaches it.
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    # ...but llmflow asked upstream for it, and recorded the tokens.
    sent = [s for s in mock_upstream.Handler.seen if s["method"] == "POST"][-1]
    assert b'"include_usage":true' in sent["body"]
    t = llmflow.wait_for_spans(1)["traces"][0]
    assert t["streamed"] is True
    assert t["total_tokens"] == 29
    assert t["ttft_ms"] is not None


def test_chat_stream_with_usage_requested(llmflow):
    chunks = list(client(llmflow).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], stream=True,
        stream_options={"include_usage": True},
    ))
    assert chunks[-1].usage.total_tokens == 29
    assert chunks[-1].choices == []
    assert llmflow.wait_for_spans(1)["traces"][0]["total_tokens"] == 29


def test_responses_api_stream(llmflow):
    events = list(client(llmflow).responses.create(model="gpt-4.1", input="hi", stream=True))
    done = [e for e in events if e.type == "response.completed"]
    assert done and done[0].response.usage.output_tokens == 11
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hi there! How can I help?"
    t = llmflow.wait_for_spans(1)["traces"][0]
    assert (t["prompt_tokens"], t["completion_tokens"]) == (37, 11)


def test_embeddings_and_models(llmflow):
    c = client(llmflow)
    e = c.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(e.data[0].embedding) == 3
    assert [m.id for m in c.models.list()] == ["gpt-4o-mini"]
    v = llmflow.wait_for_spans(2)
    emb = [t for t in v["traces"] if t["span_type"] == "embedding"][0]
    assert emb["prompt_tokens"] == 8


def test_error_status_reaches_the_sdk(llmflow):
    with pytest.raises(openai.AuthenticationError) as err:
        client(llmflow).chat.completions.create(model="bad-key", messages=[{"role": "user", "content": "x"}])
    assert "Incorrect API key" in str(err.value)
    t = llmflow.wait_for_spans(1)["traces"][0]
    assert t["status"] == 401 and t["is_error"] is True


def test_upstream_down_is_a_clear_sdk_error(upstream):
    from conftest import Llmflow
    app = Llmflow("http://127.0.0.1:9")  # discard port: nothing listens
    try:
        with pytest.raises(openai.InternalServerError) as err:
            client(app).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert err.value.status_code == 502
        assert "llmflow" in str(err.value)
    finally:
        app.stop()


async def _async_stream(app):
    c = AsyncOpenAI(base_url=f"{app.proxy}/v1", api_key=KEY, max_retries=0)
    stream = await c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    return "".join([ch.choices[0].delta.content or "" async for ch in stream])


def test_async_client_stream(llmflow):
    import asyncio
    assert asyncio.run(_async_stream(llmflow)) == "Hello! How can I help you today?"


def test_no_key_on_disk(llmflow):
    c = client(llmflow)
    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
    list(c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True))
    llmflow.wait_for_spans(2)
    llmflow.stop()
    for name in os.listdir(llmflow.data_dir):
        with open(os.path.join(llmflow.data_dir, name), "rb") as f:
            assert b"SECRETKEY" not in f.read(), name
