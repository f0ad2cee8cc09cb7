"""Every ingress dialect against every provider kind, streamed and not, through the official SDKs.

Expected replies follow docs/simulator.md: ``{model}`` in a reply is the UPSTREAM model name the gateway sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import anthropic
import httpx
import openai
import pytest

from .conftest import CHAT_MODELS, Stack, anthropic_headers, parse_sse, upstream

INGRESSES = ["openai", "anthropic"]
MODELS = list(CHAT_MODELS)
STREAMS = [False, True]
PROMPT = "hello from the matrix"  # 4 words
TOOL_RESULT = '{"forecast":"sunny"}'  # a JSON object, so every provider (Gemini too) echoes it verbatim
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="

OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ANTHROPIC_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": OPENAI_TOOL["function"]["parameters"],
}


@dataclass
class Call:
    id: str
    name: str
    arguments: dict
    raw_arguments: str = ""


@dataclass
class Reply:
    """One answer, normalised across dialects and streaming."""

    text: str | None
    finish: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None = None
    calls: list[Call] = field(default_factory=list)
    stop_sequence: str | None = None
    anthropic_content: list | None = None


# ---------------------------------------------------------------------------------------------------------------
# Dialect drivers


def openai_chat(oai: openai.OpenAI, model: str, stream: bool, messages: list, **kwargs) -> Reply:
    if not stream:
        response = oai.chat.completions.create(model=model, messages=messages, **kwargs)
        choice = response.choices[0]
        calls = [
            Call(call.id, call.function.name, json.loads(call.function.arguments), call.function.arguments)
            for call in choice.message.tool_calls or []
        ]
        usage = response.usage
        return Reply(
            text=choice.message.content,
            finish=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            total_tokens=usage.total_tokens if usage else None,
            calls=calls,
        )
    chunks = list(
        oai.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **kwargs
        )
    )
    assert chunks, "empty stream"
    assert len({chunk.id for chunk in chunks}) == 1, "every chunk of a stream carries the same id"
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text_parts: list[str] = []
    finish = None
    partial: dict[int, dict] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                text_parts.append(delta.content)
            for call in delta.tool_calls or []:
                entry = partial.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                if call.id:
                    entry["id"] = call.id
                if call.function is not None:
                    if call.function.name:
                        entry["name"] = call.function.name
                    if call.function.arguments:
                        entry["arguments"] += call.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    usage_chunks = [chunk for chunk in chunks if chunk.usage is not None]
    assert len(usage_chunks) == 1, f"expected exactly one usage chunk, got {len(usage_chunks)}"
    assert usage_chunks[0] is chunks[-1] and chunks[-1].choices == [], "the usage chunk comes last with no choices"
    usage = usage_chunks[0].usage
    calls = [
        Call(entry["id"], entry["name"], json.loads(entry["arguments"]), entry["arguments"])
        for _, entry in sorted(partial.items())
    ]
    return Reply(
        text="".join(text_parts) if text_parts or not calls else None,
        finish=finish,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        calls=calls,
    )


def anthropic_chat(
    claude: anthropic.Anthropic, model: str, stream: bool, messages: list, max_tokens: int = 256, **kwargs
) -> Reply:
    if stream:
        with claude.messages.stream(model=model, max_tokens=max_tokens, messages=messages, **kwargs) as events:
            for _ in events:
                pass
            message = events.get_final_message()
    else:
        message = claude.messages.create(model=model, max_tokens=max_tokens, messages=messages, **kwargs)
    texts = [block.text for block in message.content if block.type == "text"]
    calls = [Call(block.id, block.name, dict(block.input)) for block in message.content if block.type == "tool_use"]
    content = []
    for block in message.content:
        if block.type == "text":
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)})
    return Reply(
        text="".join(texts) if texts else None,
        finish=message.stop_reason,
        prompt_tokens=message.usage.input_tokens,
        completion_tokens=message.usage.output_tokens,
        calls=calls,
        stop_sequence=message.stop_sequence,
        anthropic_content=content,
    )


def ask(clients, ingress: str, model: str, stream: bool, prompt: str = PROMPT, **kwargs) -> Reply:
    oai, claude = clients
    if ingress == "openai":
        return openai_chat(oai, model, stream, [{"role": "user", "content": prompt}], **kwargs)
    return anthropic_chat(claude, model, stream, [{"role": "user", "content": prompt}], **kwargs)


@pytest.fixture(scope="module")
def clients(oai: openai.OpenAI, claude: anthropic.Anthropic):
    return oai, claude


# ---------------------------------------------------------------------------------------------------------------
# Plain text


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", INGRESSES)
def test_text_reply_usage_and_finish(clients, ingress: str, model: str, stream: bool) -> None:
    reply = ask(clients, ingress, model, stream)
    assert reply.text == f"sim:{upstream(model)} says: {PROMPT}"
    assert reply.calls == []
    # usage is the upstream's: 4 prompt words; reply = model word + "says:" + 4 words
    assert reply.prompt_tokens == 4
    assert reply.completion_tokens == 6
    if ingress == "openai":
        assert reply.total_tokens == 10
        assert reply.finish == "stop"
    else:
        assert reply.finish == "end_turn"
        assert reply.stop_sequence is None


@pytest.mark.parametrize("model", MODELS)
def test_openai_stream_without_include_usage_has_no_usage_chunk(oai: openai.OpenAI, model: str) -> None:
    """The gateway forces include_usage upstream for accounting but must hide that chunk from the caller."""
    chunks = list(
        oai.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}], stream=True)
    )
    text = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    assert text == f"sim:{upstream(model)} says: {PROMPT}"
    assert all(chunk.choices for chunk in chunks), "no choices-less (usage) chunk when the caller did not ask"
    assert all(chunk.usage is None for chunk in chunks)


# ---------------------------------------------------------------------------------------------------------------
# Tools


def ask_with_tool(clients, ingress: str, model: str, stream: bool) -> Reply:
    oai, claude = clients
    prompt = "what is the weather in Paris"
    if ingress == "openai":
        return openai_chat(oai, model, stream, [{"role": "user", "content": prompt}], tools=[OPENAI_TOOL])
    return anthropic_chat(claude, model, stream, [{"role": "user", "content": prompt}], tools=[ANTHROPIC_TOOL])


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", INGRESSES)
def test_tool_call(clients, ingress: str, model: str, stream: bool) -> None:
    reply = ask_with_tool(clients, ingress, model, stream)
    assert len(reply.calls) == 1, reply
    call = reply.calls[0]
    assert call.name == "get_weather"
    assert call.arguments == {"city": "sim"}
    assert call.id, "a tool call needs an id the caller can answer"
    assert reply.finish == ("tool_calls" if ingress == "openai" else "tool_use")
    assert reply.prompt_tokens is not None and reply.completion_tokens is not None
    if ingress == "openai":
        assert not reply.text, "OpenAI tool-call replies carry no text"


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", INGRESSES)
def test_tool_round_trip(clients, ingress: str, model: str, stream: bool) -> None:
    oai, claude = clients
    first = ask_with_tool(clients, ingress, model, stream)
    assert len(first.calls) == 1, first
    call = first.calls[0]
    prompt = "what is the weather in Paris"
    if ingress == "openai":
        messages = [
            {"role": "user", "content": prompt},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.raw_arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
        ]
        reply = openai_chat(oai, model, stream, messages, tools=[OPENAI_TOOL])
        assert reply.finish == "stop"
    else:
        messages = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": first.anthropic_content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": TOOL_RESULT}],
            },
        ]
        reply = anthropic_chat(claude, model, stream, messages, tools=[ANTHROPIC_TOOL])
        assert reply.finish == "end_turn"
    assert reply.calls == []
    assert reply.text == f"sim:{upstream(model)} got tool result: {TOOL_RESULT}"


EVENT_GRAMMAR = re.compile(
    r"^message_start (content_block_start (content_block_delta )+content_block_stop )+message_delta message_stop $"
)


@pytest.mark.parametrize("with_tool", [False, True], ids=["text", "tool"])
@pytest.mark.parametrize("model", MODELS)
def test_anthropic_raw_stream_event_sequence(stack: Stack, http: httpx.Client, model: str, with_tool: bool) -> None:
    body = {
        "model": model,
        "max_tokens": 200,
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if with_tool:
        body["tools"] = [ANTHROPIC_TOOL]
    response = http.post("/v1/messages", json=body, headers=anthropic_headers(stack.token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert "ping" in names, names
    assert None not in names, f"every Anthropic event is named: {events}"
    sequence = "".join(f"{name} " for name in names if name != "ping")
    assert EVENT_GRAMMAR.match(sequence), sequence
    payloads = [(name, json.loads(data)) for name, data in events]
    for name, payload in payloads:
        assert payload["type"] == name, (name, payload)
    start = payloads[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and "input_tokens" in start["usage"]
    deltas = [payload["delta"] for name, payload in payloads if name == "content_block_delta"]
    block_starts = [payload["content_block"] for name, payload in payloads if name == "content_block_start"]
    message_delta = next(payload for name, payload in payloads if name == "message_delta")
    if with_tool:
        assert [block["type"] for block in block_starts] == ["tool_use"]
        assert block_starts[0]["name"] == "get_weather" and block_starts[0]["input"] == {}
        assert {delta["type"] for delta in deltas} == {"input_json_delta"}
        assert json.loads("".join(delta["partial_json"] for delta in deltas)) == {"city": "sim"}
        assert message_delta["delta"]["stop_reason"] == "tool_use"
    else:
        assert [block["type"] for block in block_starts] == ["text"]
        assert {delta["type"] for delta in deltas} == {"text_delta"}
        assert "".join(delta["text"] for delta in deltas) == f"sim:{upstream(model)} says: {PROMPT}"
        assert message_delta["delta"]["stop_reason"] == "end_turn"
    assert message_delta["usage"]["output_tokens"] >= 1


@pytest.mark.parametrize("model", MODELS)
def test_openai_raw_stream_ends_with_done(stack: Stack, http: httpx.Client, model: str) -> None:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    response = http.post(
        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {stack.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert events[-1] == (None, "[DONE]"), events[-3:]
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# ---------------------------------------------------------------------------------------------------------------
# Images, system prompt, stop sequences, max tokens


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", INGRESSES)
def test_image_is_delivered(clients, ingress: str, model: str, stream: bool) -> None:
    oai, claude = clients
    if ingress == "openai":
        content = [
            {"type": "text", "text": "describe this"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"}},
        ]
        reply = openai_chat(oai, model, stream, [{"role": "user", "content": content}])
    else:
        content = [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}},
            {"type": "text", "text": "describe this"},
        ]
        reply = anthropic_chat(claude, model, stream, [{"role": "user", "content": content}])
    assert reply.text == f"sim:{upstream(model)} says: describe this [images: 1]"


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", INGRESSES)
def test_system_prompt_is_delivered(clients, ingress: str, model: str, stream: bool) -> None:
    oai, claude = clients
    if ingress == "openai":
        messages = [{"role": "system", "content": "answer like a pirate"}, {"role": "user", "content": "hi"}]
        reply = openai_chat(oai, model, stream, messages)
    else:
        reply = anthropic_chat(
            claude, model, stream, [{"role": "user", "content": "hi"}], system="answer like a pirate"
        )
    assert reply.text == f"sim:{upstream(model)} says: hi [system: answer like a pirate]"


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", INGRESSES)
def test_stop_sequence_cuts_the_reply(clients, ingress: str, model: str, stream: bool) -> None:
    oai, claude = clients
    if ingress == "openai":
        reply = openai_chat(oai, model, stream, [{"role": "user", "content": PROMPT}], stop=[" says"])
        assert reply.text == f"sim:{upstream(model)}"
        assert reply.finish == "stop"
    else:
        reply = anthropic_chat(
            claude, model, stream, [{"role": "user", "content": PROMPT}], stop_sequences=[" says"]
        )
        assert reply.text == f"sim:{upstream(model)}"
        if CHAT_MODELS[model][0] == "anthropic":
            assert (reply.finish, reply.stop_sequence) == ("stop_sequence", " says")
        else:
            # OpenAI and Gemini do not say which stop sequence ended the reply; either answer is honest.
            assert reply.finish in ("stop_sequence", "end_turn")
            if reply.finish == "stop_sequence":
                assert reply.stop_sequence == " says"


@pytest.mark.parametrize("stream", STREAMS, ids=["plain", "stream"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("ingress", ["openai-max_tokens", "openai-max_completion_tokens", "anthropic"])
def test_max_tokens_truncates(clients, ingress: str, model: str, stream: bool) -> None:
    oai, claude = clients
    messages = [{"role": "user", "content": PROMPT}]
    expected = f"sim:{upstream(model)} says: hello"  # the first 3 words
    if ingress.startswith("openai"):
        parameter = ingress.split("-", 1)[1]
        reply = openai_chat(oai, model, stream, messages, **{parameter: 3})
        assert reply.text == expected
        assert reply.finish == "length"
    else:
        reply = anthropic_chat(claude, model, stream, messages, max_tokens=3)
        assert reply.text == expected
        assert reply.finish == "max_tokens"
    assert reply.completion_tokens == 3
