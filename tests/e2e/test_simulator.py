"""The provider simulator checked with the official OpenAI and Anthropic SDKs (and httpx for Gemini).

The expected values come from the contract in docs/simulator.md.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import time

import anthropic
import httpx
import openai
import pytest

from conftest import GATEHOUSE_BIN, SIM_API_KEY, Simulator

ANTHROPIC_DERIVED_EVENTS = {"text", "input_json", "citation", "thinking", "signature"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "detailed": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "unit", "days", "detailed"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zones": {"type": "array"}, "opts": {"type": "object"}},
            "required": ["zones", "opts"],
        },
    },
}
WEATHER_ARGS = {"city": "sim", "unit": "celsius", "days": 1, "detailed": True}


def anthropic_tool(tool: dict) -> dict:
    function = tool["function"]
    return {"name": function["name"], "description": "t", "input_schema": function["parameters"]}


@pytest.fixture
def oai(simulator: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=simulator.openai_base_url, api_key=SIM_API_KEY, max_retries=0, timeout=20)


@pytest.fixture
def claude(simulator: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=simulator.base_url, api_key=SIM_API_KEY, max_retries=0, timeout=20)


@pytest.fixture
def gemini(simulator: Simulator) -> httpx.Client:
    client = httpx.Client(base_url=simulator.base_url, headers={"x-goog-api-key": SIM_API_KEY}, timeout=20)
    yield client
    client.close()


def sse_events(text: str, separator: str = "\n\n") -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body."""
    events = []
    for block in text.split(separator):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.replace("\r\n", "\n").split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


# MARK: - Control endpoints


def test_health_answers_ok(simulator: Simulator) -> None:
    response = httpx.get(f"{simulator.base_url}/health")
    assert response.status_code == 200
    assert response.text == "ok"


def test_unknown_route_is_a_404_in_openai_format(simulator: Simulator) -> None:
    response = httpx.post(f"{simulator.base_url}/v1/nothing-here", json={})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


def test_request_log_redacts_credentials(simulator: Simulator, oai: openai.OpenAI, gemini: httpx.Client) -> None:
    simulator.clear()
    oai.chat.completions.create(model="sim-gpt", messages=[{"role": "user", "content": "log me"}])
    gemini.post(
        f"/v1beta/models/sim-gemini:generateContent?key={SIM_API_KEY}",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )
    entries = simulator.requests()
    assert [entry["path"] for entry in entries] == [
        "/v1/chat/completions",
        "/v1beta/models/sim-gemini:generateContent",
    ]
    chat, generate = entries
    assert chat["method"] == "POST"
    assert chat["headers"]["authorization"] == "<redacted>"
    assert chat["body"]["messages"] == [{"role": "user", "content": "log me"}]
    assert generate["headers"]["x-goog-api-key"] == "<redacted>"
    assert generate["query"] == "key=<redacted>"
    assert SIM_API_KEY not in json.dumps(entries)
    assert len(simulator.requests(limit=1)) == 1
    simulator.clear()
    assert simulator.requests() == []


# MARK: - OpenAI chat


def test_openai_chat_reply_echoes_the_last_user_message_and_system(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="sim-gpt",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "world"}]},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-sim-")
    choice = completion.choices[0]
    assert choice.message.content == "sim:sim-gpt says: hello world [system: be brief]"
    assert choice.finish_reason == "stop"
    assert completion.usage.prompt_tokens == 8
    assert completion.usage.completion_tokens == 7
    assert completion.usage.total_tokens == 15
    assert completion.system_fingerprint


@pytest.mark.parametrize("text", [
    "  one\ttwo\nthree\r\nfour\x0bfive\x0csix   ", "x" * 70_000 + " y", "é ü\u00a0ü \u3000z\u2028w",
])
def test_openai_prompt_tokens_count_words_separated_by_unicode_whitespace(oai: openai.OpenAI, text: str) -> None:
    # Python's str.split() without arguments splits on the same characters as Unicode's White_Space here.
    completion = oai.chat.completions.create(model="sim-gpt", messages=[{"role": "user", "content": text}])
    assert completion.usage.prompt_tokens == len(text.split())


def test_openai_chat_stream_concatenates_to_the_reply(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="sim-gpt", messages=[{"role": "user", "content": "stream this please"}], stream=True
    )
    chunks = list(stream)
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert len({chunk.created for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert pieces == ["sim:sim-gpt", " says:", " stream", " this", " please"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is None


def test_openai_chat_stream_include_usage_adds_a_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="sim-gpt",
            messages=[{"role": "user", "content": "count me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 2
    assert chunks[-1].usage.completion_tokens == 4
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_openai_tool_call_and_round_trip(oai: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "weather in Paris?"}]
    completion = oai.chat.completions.create(model="sim-gpt", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id == "call_sim_0"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    assert completion.usage.completion_tokens == 10

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "22C and sunny"},
    ]
    follow_up = oai.chat.completions.create(model="sim-gpt", messages=messages, tools=[WEATHER_TOOL])
    assert follow_up.choices[0].message.content == "sim:sim-gpt got tool result: 22C and sunny"
    assert follow_up.choices[0].finish_reason == "stop"


def test_openai_tool_choice_forces_none_or_a_named_tool(oai: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hi"}]
    none = oai.chat.completions.create(model="m", messages=messages, tools=[WEATHER_TOOL], tool_choice="none")
    assert none.choices[0].message.content == "sim:m says: hi"
    forced = oai.chat.completions.create(
        model="m",
        messages=messages,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    (call,) = forced.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"zones": [], "opts": {}}


def test_openai_parallel_tool_calls_in_a_stream(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="sim-gpt",
        messages=[{"role": "user", "content": "both please sim:parallel"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    argument_fragments = 0
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function and delta.function.name:
                call["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
                argument_fragments += 1
    assert finish == "tool_calls"
    assert [calls[i]["id"] for i in (0, 1)] == ["call_sim_0", "call_sim_1"]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == WEATHER_ARGS
    assert json.loads(calls[1]["arguments"]) == {"zones": [], "opts": {}}
    assert 4 <= argument_fragments <= 6


def test_openai_json_response_format(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="sim-gpt",
        messages=[{"role": "user", "content": 'a "quoted" word'}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content) == {"model": "sim-gpt", "echo": 'a "quoted" word'}


def test_openai_stop_sequence_cuts_the_reply(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="sim-gpt", messages=[{"role": "user", "content": "one two three"}], stop=["two", "says"]
    )
    assert completion.choices[0].message.content == "sim:sim-gpt "
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("parameter", ["max_tokens", "max_completion_tokens"])
def test_openai_max_tokens_truncates_with_length(oai: openai.OpenAI, parameter: str) -> None:
    completion = oai.chat.completions.create(
        model="sim-gpt", messages=[{"role": "user", "content": "one two three four"}], **{parameter: 3}
    )
    assert completion.choices[0].message.content == "sim:sim-gpt says: one"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_openai_images_are_counted(oai: openai.OpenAI) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    completion = oai.chat.completions.create(
        model="sim-gpt",
        messages=[{"role": "user", "content": [{"type": "text", "text": "what is this"}, image, image]}],
    )
    assert completion.choices[0].message.content == "sim:sim-gpt says: what is this [images: 2]"


def test_openai_embeddings_base64_by_default_and_float(simulator: Simulator, oai: openai.OpenAI) -> None:
    simulator.clear()
    default = oai.embeddings.create(model="sim-embedding", input=["alpha", "beta gamma"])
    floats = oai.embeddings.create(model="sim-embedding", input=["alpha", "beta gamma"], encoding_format="float")
    sent = [entry["body"].get("encoding_format") for entry in simulator.requests()]
    assert sent == ["base64", "float"]
    assert [item.index for item in default.data] == [0, 1]
    assert default.usage.prompt_tokens == 3
    for a, b in zip(default.data, floats.data):
        assert len(a.embedding) == 8
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
        assert math.sqrt(sum(x * x for x in a.embedding)) == pytest.approx(1.0, abs=1e-5)
    assert default.data[0].embedding != default.data[1].embedding
    again = oai.embeddings.create(model="sim-embedding", input="alpha", dimensions=16, encoding_format="float")
    assert len(again.data[0].embedding) == 16


def test_openai_embeddings_raw_base64_is_little_endian_float32(simulator: Simulator) -> None:
    response = httpx.post(
        f"{simulator.base_url}/v1/embeddings",
        headers={"authorization": f"Bearer {SIM_API_KEY}"},
        json={"model": "e", "input": [[1, 2, 3]], "encoding_format": "base64", "dimensions": 4},
    )
    body = response.json()
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert len(raw) == 16
    values = struct.unpack("<4f", raw)
    assert math.sqrt(sum(v * v for v in values)) == pytest.approx(1.0, abs=1e-5)


def test_openai_models_list_and_retrieve(oai: openai.OpenAI) -> None:
    ids = [model.id for model in oai.models.list()]
    assert {"sim-gpt", "sim-claude", "sim-gemini"} <= set(ids)
    model = oai.models.retrieve("sim-gpt")
    assert model.id == "sim-gpt"
    assert model.owned_by == "gatehouse-simulator"


def test_openai_wrong_or_missing_key_is_an_authentication_error(simulator: Simulator) -> None:
    client = openai.OpenAI(base_url=simulator.openai_base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    response = httpx.post(f"{simulator.base_url}/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_openai_invalid_json_is_a_400(simulator: Simulator) -> None:
    response = httpx.post(
        f"{simulator.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {SIM_API_KEY}", "content-type": "application/json"},
        content=b"{nope",
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# MARK: - OpenAI faults


@pytest.mark.parametrize(
    ("kind", "exception", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
    ],
)
def test_openai_status_faults_raise_the_sdk_exception(oai: openai.OpenAI, kind, exception, status) -> None:
    with pytest.raises(exception) as raised:
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": kind}
        )
    assert raised.value.status_code == status
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"
        assert raised.value.body["code"] == "rate_limit_exceeded"


def test_openai_fault_from_the_prompt_text(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": "please sim:fault=500 now"}])


def test_openai_reset_fault_drops_the_connection(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "reset"}
        )
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "a long enough reply"}],
        stream=True,
        extra_headers={"x-sim-fault": "reset"},
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert "".join(r or "" for r in received) == "sim:m says:"


def test_openai_malformed_fault_breaks_decoding(simulator: Simulator, oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi there"}],
        stream=True,
        extra_headers={"x-sim-fault": "malformed"},
    )
    with pytest.raises(ValueError):  # json.JSONDecodeError
        for _ in stream:
            pass
    raw = httpx.post(
        f"{simulator.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {SIM_API_KEY}", "x-sim-fault": "malformed"},
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert raw.status_code == 200
    with pytest.raises(ValueError):
        raw.json()


def test_configured_fault_applies_unless_the_header_says_none(simulator_factory) -> None:
    sim = simulator_factory("--fault", "503")
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key=SIM_API_KEY, max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    ok = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "none"}
    )
    assert ok.choices[0].message.content == "sim:m says: hi"


def test_fault_rate_is_deterministic_for_a_seed(simulator_factory) -> None:
    def outcomes(sim: Simulator) -> list[int]:
        headers = {"authorization": f"Bearer {SIM_API_KEY}"}
        return [httpx.get(f"{sim.base_url}/v1/models", headers=headers).status_code for _ in range(24)]

    first = outcomes(simulator_factory("--fault", "500", "--fault-rate", "0.5", "--seed", "7"))
    second = outcomes(simulator_factory("--fault", "500", "--fault-rate", "0.5", "--seed", "7"))
    assert first == second
    assert set(first) == {200, 500}


def test_slow_fault_and_latency_delay_the_answer(simulator_factory) -> None:
    sim = simulator_factory("--slow-ms", "400", "--latency-ms", "150")
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key=SIM_API_KEY, max_retries=0)
    started = time.monotonic()
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "slow"}
    )
    assert time.monotonic() - started >= 0.5


def test_reply_words_and_pacing_shape_the_stream(simulator_factory) -> None:
    sim = simulator_factory("--reply-words", "20", "--ttft-ms", "100", "--tokens-per-second", "50")
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key=SIM_API_KEY, max_retries=0)
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    for chunk in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic() - started, chunk.choices[0].delta.content))
    pieces = [piece for _, piece in arrivals]
    assert len(pieces) == 20
    assert "".join(pieces) == "sim:m says: x " + " ".join(f"w{i}" for i in range(1, 18))
    first, last = arrivals[0][0], arrivals[-1][0]
    assert first >= 0.1
    # 19 pauses of 20 ms: the chunks arrive spread out, not buffered into one write.
    assert last - first >= 19 * 0.02 * 0.8


# MARK: - Anthropic


def test_anthropic_message_reply(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="sim-claude",
        max_tokens=100,
        system=[{"type": "text", "text": "be"}, {"type": "text", "text": "kind"}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "you"}]}],
    )
    assert message.id.startswith("msg_sim_")
    assert message.role == "assistant"
    assert message.model == "sim-claude"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "sim:sim-claude says: hello you [system: be kind]"
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == 4
    assert message.usage.output_tokens == 7


def test_anthropic_stream_events_and_text(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="sim-claude", max_tokens=100, messages=[{"role": "user", "content": "stream me"}]
    ) as stream:
        types = [event.type for event in stream if event.type not in ANTHROPIC_DERIVED_EVENTS]
        final = stream.get_final_message()
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert final.content[0].text == "sim:sim-claude says: stream me"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4

    raw = claude.messages.create(
        model="sim-claude", max_tokens=100, messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    deltas = [e.delta.text for e in raw if e.type == "content_block_delta"]
    assert deltas == ["sim:sim-claude", " says:", " stream", " me"]


def test_anthropic_stream_wire_format_includes_ping(simulator: Simulator) -> None:
    response = httpx.post(
        f"{simulator.base_url}/v1/messages",
        headers={"x-api-key": SIM_API_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "c", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [name for name, _ in events][:2] == ["message_start", "ping"]
    for name, data in events:
        assert json.loads(data)["type"] == name
    start = json.loads(events[0][1])["message"]
    assert start["content"] == [] and start["usage"]["output_tokens"] == 1


def test_anthropic_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    tools = [anthropic_tool(WEATHER_TOOL), anthropic_tool(TIME_TOOL)]
    messages = [{"role": "user", "content": "weather?"}]
    message = claude.messages.create(model="c", max_tokens=100, tools=tools, messages=messages)
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert block.id == "toolu_sim_0"
    assert block.name == "get_weather"
    assert block.input == WEATHER_ARGS

    messages += [
        {"role": "assistant", "content": [block.model_dump()]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": block.id, "content": [{"type": "text", "text": "rainy"}]}],
        },
    ]
    follow_up = claude.messages.create(model="c", max_tokens=100, tools=tools, messages=messages)
    assert follow_up.content[0].text == "sim:c got tool result: rainy"

    forced = claude.messages.create(
        model="c", max_tokens=100, tools=tools, tool_choice={"type": "tool", "name": "get_time"}, messages=messages[:1]
    )
    assert forced.content[0].name == "get_time"
    none = claude.messages.create(model="c", max_tokens=100, tools=tools, tool_choice={"type": "none"}, messages=messages[:1])
    assert none.content[0].text == "sim:c says: weather?"


def test_anthropic_streamed_parallel_tool_use(claude: anthropic.Anthropic) -> None:
    tools = [anthropic_tool(WEATHER_TOOL), anthropic_tool(TIME_TOOL)]
    with claude.messages.stream(
        model="c", max_tokens=100, tools=tools, messages=[{"role": "user", "content": "sim:parallel"}]
    ) as stream:
        final = stream.get_final_message()
    assert [(b.id, b.name) for b in final.content] == [("toolu_sim_0", "get_weather"), ("toolu_sim_1", "get_time")]
    assert final.content[0].input == WEATHER_ARGS
    assert final.content[1].input == {"zones": [], "opts": {}}
    assert final.stop_reason == "tool_use"


def test_anthropic_stop_sequence_and_max_tokens(claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "alpha beta gamma"}]
    stopped = claude.messages.create(model="c", max_tokens=100, stop_sequences=["beta"], messages=messages)
    assert stopped.content[0].text == "sim:c says: alpha "
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == "beta"
    truncated = claude.messages.create(model="c", max_tokens=2, messages=messages)
    assert truncated.content[0].text == "sim:c says:"
    assert truncated.stop_reason == "max_tokens"


def test_anthropic_images_are_counted(claude: anthropic.Anthropic) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    message = claude.messages.create(
        model="c", max_tokens=100, messages=[{"role": "user", "content": [image, {"type": "text", "text": "see"}]}]
    )
    assert message.content[0].text == "sim:c says: see [images: 1]"


def test_anthropic_request_validation(simulator: Simulator, claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="c", messages=[{"role": "user", "content": "hi"}], max_tokens=None)  # type: ignore[arg-type]
    response = httpx.post(
        f"{simulator.base_url}/v1/messages",
        headers={"x-api-key": SIM_API_KEY},
        json={"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": response.json()["error"]["message"]},
    }


def test_anthropic_invalid_json_is_a_400(simulator: Simulator) -> None:
    response = httpx.post(
        f"{simulator.base_url}/v1/messages",
        headers={"x-api-key": SIM_API_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        content=b'{"model": ',
    )
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_anthropic_wrong_key_is_an_authentication_error(simulator: Simulator) -> None:
    client = anthropic.Anthropic(base_url=simulator.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        client.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("kind", "exception", "status", "error_type"),
    [
        ("429", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("500", anthropic.InternalServerError, 500, "api_error"),
        ("503", anthropic.APIStatusError, 503, "overloaded_error"),
    ],
)
def test_anthropic_status_faults(claude: anthropic.Anthropic, kind, exception, status, error_type) -> None:
    with pytest.raises(exception) as raised:
        claude.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": kind}
        )
    assert raised.value.status_code == status
    assert raised.value.body["error"]["type"] == error_type
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"


def is_connection_drop(error: BaseException) -> bool:
    """The SDKs wrap drops as APIConnectionError, except mid-stream where anthropic lets the transport error out."""
    connection_errors = (anthropic.APIConnectionError, openai.APIConnectionError, httpx.TransportError)
    return isinstance(error, connection_errors) or type(error).__name__ in {"RemoteProtocolError", "ReadError"}


@pytest.mark.parametrize("kind", ["reset", "malformed"])
def test_anthropic_stream_faults_break_the_stream(claude: anthropic.Anthropic, kind: str) -> None:
    received = []
    with pytest.raises(Exception) as raised:
        with claude.messages.stream(
            model="c",
            max_tokens=100,
            messages=[{"role": "user", "content": "a b c d"}],
            extra_headers={"x-sim-fault": kind},
        ) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert received == ["sim:c", " says:"]
    if kind == "malformed":
        assert isinstance(raised.value, ValueError)  # json.JSONDecodeError
    else:
        assert is_connection_drop(raised.value), repr(raised.value)


def test_anthropic_reset_without_stream_is_a_connection_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "reset"}
        )


# MARK: - Gemini


def test_gemini_generate_content(gemini: httpx.Client) -> None:
    response = gemini.post(
        "/v1beta/models/gemini-2.0-flash:generateContent",
        json={
            "systemInstruction": {"parts": [{"text": "be terse"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}
            ],
        },
    )
    assert response.status_code == 200
    body = response.json()
    candidate = body["candidates"][0]
    assert candidate["content"] == {
        "role": "model",
        "parts": [{"text": "sim:gemini-2.0-flash says: look [system: be terse] [images: 1]"}],
    }
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"] == {"promptTokenCount": 3, "candidatesTokenCount": 8, "totalTokenCount": 11}
    assert body["modelVersion"] == "gemini-2.0-flash"


def test_gemini_stream_generate_content_sse(gemini: httpx.Client) -> None:
    response = gemini.post(
        "/v1beta/models/sim-gemini:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "one two"}]}]},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("\r\n\r\n")
    events = [json.loads(data) for _, data in sse_events(response.text, "\r\n\r\n")]
    texts = [e["candidates"][0]["content"]["parts"][0]["text"] for e in events]
    assert texts == ["sim:sim-gemini", " says:", " one", " two"]
    assert [e["candidates"][0].get("finishReason") for e in events] == [None, None, None, "STOP"]


def test_gemini_stream_without_sse_is_a_json_array(gemini: httpx.Client) -> None:
    response = gemini.post(
        "/v1beta/models/g:streamGenerateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
    )
    chunks = response.json()
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "sim:g says: hi"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_function_call_round_trip(gemini: httpx.Client) -> None:
    tools = [{"functionDeclarations": [{"name": f["function"]["name"], "parameters": f["function"]["parameters"]}
                                       for f in (WEATHER_TOOL, TIME_TOOL)]}]
    contents = [{"role": "user", "parts": [{"text": "weather?"}]}]
    body = gemini.post("/v1beta/models/g:generateContent", json={"contents": contents, "tools": tools}).json()
    parts = body["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "get_weather", "args": WEATHER_ARGS}}]
    assert body["candidates"][0]["finishReason"] == "STOP"

    result = {"temp": 22, "sky": "clear", "nested": {"b": 1, "a": [1.5, None]}}
    contents += [
        {"role": "model", "parts": parts},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": result}}]},
    ]
    follow_up = gemini.post("/v1beta/models/g:generateContent", json={"contents": contents, "tools": tools}).json()
    expected = json.dumps(result, separators=(",", ":"), sort_keys=True)
    assert follow_up["candidates"][0]["content"]["parts"][0]["text"] == f"sim:g got tool result: {expected}"

    restricted = gemini.post(
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        json={
            "contents": contents[:1],
            "tools": tools,
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}},
        },
    )
    (event,) = [json.loads(d) for _, d in sse_events(restricted.text, "\r\n\r\n")]
    assert event["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "get_time", "args": {"zones": [], "opts": {}}}}]


def test_gemini_generation_config(gemini: httpx.Client) -> None:
    contents = [{"parts": [{"text": "x y z"}]}]
    limited = gemini.post(
        "/v1beta/models/g:generateContent", json={"contents": contents, "generationConfig": {"maxOutputTokens": 2}}
    ).json()
    assert limited["candidates"][0]["content"]["parts"][0]["text"] == "sim:g says:"
    assert limited["candidates"][0]["finishReason"] == "MAX_TOKENS"
    as_json = gemini.post(
        "/v1beta/models/g:generateContent",
        json={"contents": contents, "generationConfig": {"responseMimeType": "application/json"}},
    ).json()
    assert json.loads(as_json["candidates"][0]["content"]["parts"][0]["text"]) == {"model": "g", "echo": "x y z"}


def test_gemini_embeddings(gemini: httpx.Client) -> None:
    single = gemini.post(
        "/v1beta/models/sim-embedding:embedContent", json={"content": {"parts": [{"text": "alpha"}]}}
    ).json()
    batch = gemini.post(
        "/v1beta/models/sim-embedding:batchEmbedContents",
        json={
            "requests": [
                {"model": "models/sim-embedding", "content": {"parts": [{"text": "alpha"}]}},
                {"model": "models/sim-embedding", "content": {"parts": [{"text": "beta"}]}, "outputDimensionality": 3},
            ]
        },
    ).json()
    assert len(single["embedding"]["values"]) == 8
    assert batch["embeddings"][0]["values"] == single["embedding"]["values"]
    assert len(batch["embeddings"][1]["values"]) == 3


def test_gemini_models_and_auth(simulator: Simulator, gemini: httpx.Client) -> None:
    names = [m["name"] for m in gemini.get("/v1beta/models").json()["models"]]
    assert "models/sim-gemini" in names
    assert httpx.get(f"{simulator.base_url}/v1beta/models?key={SIM_API_KEY}").status_code == 200
    missing = httpx.post(f"{simulator.base_url}/v1beta/models/g:generateContent", json={"contents": []})
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    invalid = gemini.post("/v1beta/models/g:generateContent", content=b"[1,")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_gemini_rate_limit_fault(gemini: httpx.Client) -> None:
    response = gemini.post(
        "/v1beta/models/g:generateContent",
        headers={"x-sim-fault": "429"},
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == {"code": 429, "message": response.json()["error"]["message"], "status": "RESOURCE_EXHAUSTED"}


# MARK: - Clients of extra simulators


def openai_client(sim: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.openai_base_url, api_key=SIM_API_KEY, max_retries=0, timeout=20)


def anthropic_client(sim: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_url, api_key=SIM_API_KEY, max_retries=0, timeout=20)


def gemini_client(sim: Simulator) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, headers={"x-goog-api-key": SIM_API_KEY}, timeout=20)


# MARK: - 401 fault


def test_openai_401_fault_is_an_invalid_api_key_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        oai.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "401"}
        )
    assert raised.value.status_code == 401
    error = raised.value.response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert error["param"] is None
    assert error["message"].startswith("Incorrect API key provided")


def test_anthropic_401_fault_from_the_prompt_is_an_authentication_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.AuthenticationError) as raised:
        claude.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "go sim:fault=401"}])
    assert raised.value.status_code == 401
    assert raised.value.response.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }


def test_gemini_401_fault_from_the_command_line_is_unauthenticated(simulator_factory) -> None:
    with gemini_client(simulator_factory("--fault", "401")) as client:
        response = client.post("/v1beta/models/g:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]})
        listed = client.get("/v1beta/models")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["message"].startswith("Request had invalid authentication credentials.")
    assert listed.status_code == 401


# MARK: - retry-after-ms


def test_rate_limit_sends_retry_after_in_seconds_and_milliseconds(simulator_factory) -> None:
    sim = simulator_factory("--retry-after", "3")
    with pytest.raises(openai.RateLimitError) as openai_raised:
        openai_client(sim).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "429"}
        )
    with pytest.raises(anthropic.RateLimitError) as anthropic_raised:
        anthropic_client(sim).messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}], extra_headers={"x-sim-fault": "429"}
        )
    for raised in (openai_raised, anthropic_raised):
        assert raised.value.response.headers["retry-after"] == "3"
        assert raised.value.response.headers["retry-after-ms"] == "3000"


# MARK: - Context window


def words(count: int) -> str:
    return " ".join(f"x{i}" for i in range(count))


@pytest.fixture(scope="module")
def windowed(simulator_factory) -> Simulator:
    """A simulator whose chat requests may have at most 8 prompt tokens."""
    return simulator_factory("--context-window", "8")


def test_openai_prompt_over_the_context_window_is_context_length_exceeded(windowed: Simulator) -> None:
    client = openai_client(windowed)
    messages = [{"role": "system", "content": words(4)}, {"role": "user", "content": words(5)}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(model="m", messages=messages, stream=stream)
        assert raised.value.status_code == 400
        assert raised.value.response.json() == {
            "error": {
                "message": "This model's maximum context length is 8 tokens. However, your messages resulted in 9 "
                "tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
    at_the_limit = client.chat.completions.create(model="m", messages=[{"role": "user", "content": words(8)}])
    assert at_the_limit.usage.prompt_tokens == 8
    chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "short"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "sim:m says: short"


def test_anthropic_prompt_over_the_context_window_is_prompt_too_long(windowed: Simulator) -> None:
    client = anthropic_client(windowed)
    messages = [{"role": "user", "content": words(6)}]
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="c", max_tokens=10, system=words(4), messages=messages)
    assert raised.value.status_code == 400
    assert raised.value.response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 10 tokens > 8 maximum"},
    }
    with pytest.raises(anthropic.BadRequestError) as streamed:
        with client.messages.stream(model="c", max_tokens=10, system=words(4), messages=messages) as stream:
            list(stream.text_stream)
    assert streamed.value.body["error"]["message"] == "prompt is too long: 10 tokens > 8 maximum"
    short = client.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": "short"}])
    assert short.content[0].text == "sim:c says: short"


def test_gemini_prompt_over_the_context_window_is_invalid_argument(windowed: Simulator) -> None:
    expected = {
        "error": {
            "code": 400,
            "message": "The input token count (12) exceeds the maximum number of tokens allowed (8).",
            "status": "INVALID_ARGUMENT",
        }
    }
    with gemini_client(windowed) as client:
        for action in ("generateContent", "streamGenerateContent?alt=sse", "streamGenerateContent"):
            response = client.post(f"/v1beta/models/g:{action}", json={"contents": [{"parts": [{"text": words(12)}]}]})
            assert response.status_code == 400, action
            assert response.headers["content-type"] == "application/json"
            assert response.json() == expected
        short = client.post("/v1beta/models/g:generateContent", json={"contents": [{"parts": [{"text": "short"}]}]})
    assert short.status_code == 200
    assert short.json()["candidates"][0]["content"]["parts"][0]["text"] == "sim:g says: short"


def test_prompts_of_any_length_pass_without_a_context_window(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="m", messages=[{"role": "user", "content": words(5000)}])
    assert completion.usage.prompt_tokens == 5000


# MARK: - Reset after N content events


@pytest.mark.parametrize("after", [0, 1, 5])
def test_reset_drops_an_openai_stream_after_the_configured_content_events(simulator_factory, after: int) -> None:
    client = openai_client(simulator_factory("--reset-after", str(after), "--fault", "reset"))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": words(10)}], stream=True
    )
    pieces = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces == (["sim:m", " says:"] + [f" x{i}" for i in range(10)])[:after]


@pytest.mark.parametrize("after", [1, 4])
def test_reset_drops_anthropic_and_gemini_streams_after_the_configured_content_events(
    simulator_factory, after: int
) -> None:
    sim = simulator_factory("--reset-after", str(after))
    received = []
    with pytest.raises(Exception) as raised:
        with anthropic_client(sim).messages.stream(
            model="c", max_tokens=100, messages=[{"role": "user", "content": words(10)}],
            extra_headers={"x-sim-fault": "reset"},
        ) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert is_connection_drop(raised.value), repr(raised.value)
    assert len(received) == after

    events = []
    with gemini_client(sim) as client, pytest.raises(httpx.RemoteProtocolError):
        with client.stream(
            "POST", "/v1beta/models/g:streamGenerateContent?alt=sse", headers={"x-sim-fault": "reset"},
            json={"contents": [{"parts": [{"text": words(10)}]}]},
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[len("data: "):]))
    assert len(events) == after


def test_reset_after_beyond_the_reply_drops_the_stream_after_its_last_content_event(simulator_factory) -> None:
    client = openai_client(simulator_factory("--reset-after", "50"))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers={"x-sim-fault": "reset"}
    )
    pieces = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert pieces == ["sim:m", " says:", " hi"]


def test_reset_after_leaves_non_streamed_resets_unchanged(simulator_factory) -> None:
    client = openai_client(simulator_factory("--reset-after", "7", "--fault", "reset"))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


# MARK: - Per-kind fault rates


def chat_statuses(sim: Simulator, count: int) -> list[int]:
    headers = {"authorization": f"Bearer {SIM_API_KEY}"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=20) as client:
        return [client.post("/v1/chat/completions", json=body).status_code for _ in range(count)]


def test_per_kind_fault_rates_add_up_and_each_kind_gets_its_share(simulator_factory) -> None:
    args = ("--fault", "500:0.3", "--fault", "429:0.1", "--fault", "401", "--fault-rate", "0.2", "--seed", "11")
    sim = simulator_factory(*args)
    statuses = chat_statuses(sim, 400)
    shares = {status: statuses.count(status) / len(statuses) for status in (500, 429, 401, 200)}
    expected = {500: 0.3, 429: 0.1, 401: 0.2, 200: 0.4}
    for status, rate in expected.items():
        assert abs(shares[status] - rate) <= 0.05, (status, shares)
    assert set(statuses) == set(expected)
    assert chat_statuses(simulator_factory(*args), 400) == statuses


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "500:0.7", "--fault", "429:0.4"], "add up to"),
        (["--fault", "500:0.6", "--fault", "429", "--fault-rate", "0.5"], "add up to"),
        (["--fault", "500:1.5"], "must be a number in 0...1"),
        (["--fault", "500:lots"], "must be a number in 0...1"),
        (["--fault", "418:0.1"], "Unknown --fault '418'"),
        (["--context-window", "0"], "--context-window must be at least 1"),
        (["--reset-after=-1"], "--reset-after must not be negative"),
    ],
)
def test_invalid_fault_options_are_refused_at_start(args: list[str], message: str) -> None:
    result = subprocess.run(
        [GATEHOUSE_BIN, "simulate", "--port", "0", *args], capture_output=True, text=True, timeout=20
    )
    assert result.returncode != 0
    assert message in result.stderr


# MARK: - Request log notes faults


def test_faulted_requests_are_recorded_with_their_kind(simulator_factory) -> None:
    sim = simulator_factory("--fault", "503:0.5", "--fault", "500:0.25", "--seed", "3")
    statuses = chat_statuses(sim, 120)
    entries = sim.requests()
    assert len(entries) == 120
    kinds = {200: None, 500: "500", 503: "503"}
    assert [entry["fault"] for entry in entries] == [kinds[status] for status in statuses]
    assert all(entry["path"] == "/v1/chat/completions" for entry in entries)


def test_request_log_notes_faults_chosen_by_header_or_prompt(simulator: Simulator) -> None:
    simulator.clear()
    url = f"{simulator.base_url}/v1/chat/completions"
    auth = {"authorization": f"Bearer {SIM_API_KEY}"}

    def chat(text: str, headers: dict[str, str]) -> int:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        return httpx.post(url, headers=headers, json=body).status_code

    assert [chat("hi", {**auth, "x-sim-fault": kind}) for kind in ("429", "401", "malformed")] == [429, 401, 200]
    assert chat("sim:fault=500", auth) == 500
    assert chat("fine", auth) == 200
    assert chat("sim:fault=500", {}) == 401  # refused before any fault is chosen
    assert [entry["fault"] for entry in simulator.requests()] == ["429", "401", "malformed", "500", None, None]
