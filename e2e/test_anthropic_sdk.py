"""The official Anthropic Python SDK (passthrough and provider routes) and the OpenAI SDK on
the translated Anthropic route, against the running llmflow binary."""
import anthropic
from openai import OpenAI

import mock_upstream

KEY = "sk-ant-e2e-SECRETKEY"
TEXT = "Hello! How can I help you today?"


def sdk(app, prefix):
    return anthropic.Anthropic(base_url=f"{app.proxy}{prefix}", api_key=KEY, max_retries=0)


def last_post():
    return [s for s in mock_upstream.Handler.seen if s["method"] == "POST"][-1]


def test_passthrough_messages(llmflow):
    msg = sdk(llmflow, "/passthrough/anthropic").messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    )
    assert msg.content[0].text == TEXT
    assert msg.usage.cache_read_input_tokens == 2048
    sent = last_post()
    # Anthropic's SDK sends its key as a bearer token; passthrough keeps it exactly so.
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["path"] == "/v1/messages"
    t = llmflow.wait_for_spans(1)["traces"][0]
    assert t["provider"] == "anthropic"
    # input = input + cache read + cache write, counted once
    assert t["prompt_tokens"] == 12 + 2048 + 1500
    assert t["cache_read_tokens"] == 2048 and t["cache_write_tokens"] == 1500
    assert t["completion_tokens"] == 12


def test_passthrough_stream_keeps_both_usage_halves(llmflow):
    with sdk(llmflow, "/passthrough/anthropic").messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == TEXT
    assert final.usage.output_tokens == 15
    t = llmflow.wait_for_spans(1)["traces"][0]
    assert t["streamed"] is True
    assert (t["prompt_tokens"], t["completion_tokens"]) == (25 + 1800, 15)


def test_oauth_bearer_stays_bearer_on_passthrough(llmflow):
    c = anthropic.Anthropic(base_url=f"{llmflow.proxy}/passthrough/anthropic", auth_token="sk-ant-oat01-TOKEN", max_retries=0)
    c.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    sent = last_post()
    assert sent["headers"]["authorization"] == "Bearer sk-ant-oat01-TOKEN"
    assert "x-api-key" not in sent["headers"]


def test_provider_route(llmflow):
    msg = sdk(llmflow, "/anthropic").messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    )
    assert msg.content[0].text == TEXT
    assert llmflow.wait_for_spans(1)["traces"][0]["provider"] == "anthropic"


def test_openai_sdk_on_translated_route(llmflow):
    c = OpenAI(base_url=f"{llmflow.proxy}/anthropic/v1", api_key=KEY, max_retries=0)
    r = c.chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hello"}]
    )
    assert r.choices[0].message.content == TEXT
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 12 + 2048 + 1500
    sent = last_post()
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == KEY
    chunks = list(c.chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Hello"}], stream=True,
        stream_options={"include_usage": True},
    ))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == TEXT
    assert chunks[-1].usage.completion_tokens == 15
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    llmflow.wait_for_spans(2)
