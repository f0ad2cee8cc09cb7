"""Routing and resilience end to end: model groups over several real simulator processes, each misbehaving
on cue, driven with the official SDKs. A table of fault -> expected outcome:

| fault                                   | expected                                                          |
|-----------------------------------------|-------------------------------------------------------------------|
| none, each strategy, 300 requests       | weighted within 10% of the weights; ordered, cost: all to one;     |
|                                         | least-busy spread; latency mostly to the faster deployment        |
| a deployment SIGKILLed mid-test         | no caller error; it cools down; traffic returns once restarted    |
| 429 with retry-after                    | the other deployment answers; the limited one not asked before    |
| 503 before a stream's first byte        | the stream comes whole from the other deployment                  |
| a stream reset after 5 events           | the caller gets the 5 events and an error event, nothing else     |
| a prompt too long for the model         | its context-window fallback answers                               |
| 401 from one deployment                 | not retried; it is marked unhealthy, the routes view says why     |
| every deployment down                   | 503 in the caller's dialect, no key or URL in it                  |
| a model whose deployments all fail      | its fallback answers; a fallback outside the token is skipped     |
| first byte later than first_byte_ms     | timed out and answered by the other deployment                    |
| a mixed OpenAI + Anthropic group        | both ingress dialects, streaming and tools, across providers      |
"""

from __future__ import annotations

import collections
import json
import os
import signal
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import anthropic
import httpx
import openai
import pytest

from conftest import SIM_API_KEY, Gateway, Simulator, gatehouse, start_gateway, start_simulator, stop_process, wait_until

MESSAGES = [{"role": "user", "content": "route me"}]


@dataclass
class Group:
    """A gateway in front of several simulators (one provider each, named as the keys of `sims`)."""

    gateway: Gateway
    sims: dict[str, Simulator]
    admin_token: str

    def openai(self, token: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.gateway.base_url + "/v1", api_key=token or self.gateway.token, max_retries=0, timeout=30)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.gateway.base_url, api_key=self.gateway.token, max_retries=0, timeout=30)

    def routes(self) -> dict[str, dict]:
        """The routes view, by model name, each deployment by name."""
        response = httpx.get(
            self.gateway.base_url + "/v1/gatehouse/routes", headers={"authorization": f"Bearer {self.admin_token}"},
            timeout=10)
        assert response.status_code == 200, response.text
        return {model["name"]: {d["name"]: d for d in model["deployments"]} for model in response.json()["data"]}

    def audit(self) -> list[dict]:
        lines = (Path(self.gateway.state) / "audit" / "audit.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def request_records(self, count: int) -> list[dict]:
        """The request records, once there are `count` (the front forwards them to the keyholder's log)."""
        records: list[dict] = []

        def enough() -> bool:
            records[:] = [r for r in self.audit() if r["kind"] == "request"]
            return len(records) >= count

        assert wait_until(enough, timeout=10), records
        return records

    def restart(self, name: str, *extra: str) -> None:
        """Starts the simulator `name` again on its port (after it was killed)."""
        old = self.sims[name]
        self.sims[name] = start_simulator("--port", str(old.port), *extra)


@contextmanager
def group(providers: dict[str, tuple[str, list[str]]], models: str, router: str = "",
          keys: dict[str, str] | None = None) -> Iterator[Group]:
    """Starts one simulator per provider (`name: (kind, simulator options)`) and a gateway whose config lists
    those providers and the `models` YAML given."""
    sims: dict[str, Simulator] = {}
    with tempfile.TemporaryDirectory(prefix="gatehouse-failover-") as directory:
        gateway = None
        try:
            lines = ["providers:"]
            for name, (kind, options) in providers.items():
                sims[name] = start_simulator(*options, api_key=(keys or {}).get(name, SIM_API_KEY))
                base = sims[name].base_url + ("" if kind == "anthropic" else "/v1")
                lines.append(f"  {name}: {{kind: {kind}, base_url: '{base}', key: k}}")
            config = "\n".join(lines) + "\n" + models + router
            gateway = start_gateway(Path(directory), config, SIM_API_KEY)
            admin = gatehouse("token", "mint", "--subject", "ops", "--scope", "admin", state=gateway.state)
            yield Group(gateway, sims, admin)
        finally:
            if gateway is not None:
                stop_process(gateway.process)
            for sim in sims.values():
                stop_process(sim.process)


def ask(client: openai.OpenAI, model: str = "smart", **extra) -> tuple[str, str, str]:
    """One chat completion: (the deployment header, the attempts header, the reply text)."""
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, **extra)
    reply = raw.parse()
    return raw.headers["x-gatehouse-deployment"], raw.headers["x-gatehouse-attempts"], reply.choices[0].message.content


def deployments(names: list[str], model: str = "smart", strategy: str = "weighted", weights: list[int] | None = None,
                extra: str = "", ranks: list[int] | None = None) -> str:
    """A `models:` section with one model whose deployments are the providers `names` (upstream model u-NAME)."""
    lines = ["models:", f"  - name: {model}", f"    strategy: {strategy}", "    deployments:"]
    for index, name in enumerate(names):
        entry = f"      - {{name: {name}, provider: {name}, model: u-{name}"
        if weights:
            entry += f", weight: {weights[index]}"
        if ranks:
            entry += f", cost_rank: {ranks[index]}"
        lines.append(entry + "}")
    return "\n".join(lines) + "\n" + extra


# ---------------------------------------------------------------------------------------------------------------
# Strategies: distributions over 300 requests


def share_of(headers: list[str]) -> dict[str, float]:
    counts = collections.Counter(header.split("/", 1)[1] for header in headers)
    return {name: count / len(headers) for name, count in counts.items()}


def test_weighted_spreads_by_weight() -> None:
    with group({"a": ("openai", []), "b": ("openai", [])}, deployments(["a", "b"], weights=[3, 1])) as g:
        client = g.openai()
        shares = share_of([ask(client)[0] for _ in range(300)])
        assert abs(shares.get("a", 0) - 0.75) <= 0.075, shares
        assert abs(shares.get("b", 0) - 0.25) <= 0.075, shares
        # The lighter deployment's simulator saw what the headers say (its request log keeps the last 200).
        assert len(g.sims["b"].requests()) == round(shares["b"] * 300)


def test_ordered_and_cost_send_everything_to_one_deployment() -> None:
    models = deployments(["a", "b"], strategy="ordered") + deployments(
        ["c", "b"], model="cheap", strategy="cost", ranks=[5, 1]).replace("models:\n", "")
    providers = {"a": ("openai", []), "b": ("openai", []), "c": ("openai", [])}
    with group(providers, models) as g:
        client = g.openai()
        assert {ask(client)[0] for _ in range(300)} == {"smart/a"}
        assert {ask(client, "cheap")[0] for _ in range(300)} == {"cheap/b"}


def test_least_busy_spreads_sequential_requests() -> None:
    with group({"a": ("openai", []), "b": ("openai", [])}, deployments(["a", "b"], strategy="least-busy")) as g:
        shares = share_of([ask(g.openai())[0] for _ in range(300)])
        assert abs(shares.get("a", 0) - 0.5) <= 0.1, shares


def test_latency_prefers_the_faster_deployment() -> None:
    providers = {"fast": ("openai", []), "slow": ("openai", ["--latency-ms", "40"])}
    with group(providers, deployments(["fast", "slow"], strategy="latency")) as g:
        shares = share_of([ask(g.openai())[0] for _ in range(300)])
        assert shares.get("fast", 0) >= 0.9, shares
        assert g.routes()["smart"]["slow"]["latency_ms"] >= 30


# ---------------------------------------------------------------------------------------------------------------
# Failures


ROUTER = "router:\n  cooldown: {failures: 2, window_s: 60, cooldown_s: 2}\n"


def test_a_killed_deployment_is_routed_around_cooled_down_and_brought_back() -> None:
    with group({"a": ("openai", []), "b": ("openai", [])}, deployments(["a", "b"]), ROUTER) as g:
        client = g.openai()
        for _ in range(10):
            ask(client)
        g.sims["a"].process.send_signal(signal.SIGKILL)
        g.sims["a"].process.wait(5)
        seen = [ask(client) for _ in range(40)]  # no exception: every request answered
        assert {header for header, _, _ in seen} == {"smart/b"}
        assert any(attempts != "1" for _, attempts, _ in seen), "the first requests after the kill were retried"
        state = g.routes()["smart"]["a"]
        assert state["state"] in ("cooling_down", "half_open"), state
        assert state["last_error"] == "upstream_unreachable"
        g.restart("a")
        assert wait_until(lambda: ask(client)[0] == "smart/a", timeout=15, interval=0.1), "traffic returns to a"
        assert g.routes()["smart"]["a"]["state"] == "healthy"
        metrics = httpx.get(g.gateway.base_url + "/metrics", timeout=10).text
        assert 'gatehouse_route_health_changes_total{model="smart",deployment="a",change="cooldown"}' in metrics
        assert 'gatehouse_route_health_changes_total{model="smart",deployment="a",change="restored"}' in metrics


def test_a_429_with_retry_after_sends_the_request_elsewhere_and_spares_the_limited_deployment() -> None:
    providers = {"limited": ("openai", ["--fault", "429", "--retry-after", "2"]), "spare": ("openai", [])}
    with group(providers, deployments(["limited", "spare"], strategy="ordered")) as g:
        client = g.openai()
        header, attempts, text = ask(client)
        assert (header, attempts) == ("smart/spare", "2")
        assert text == "sim:u-spare says: route me"
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            assert ask(client)[0] == "smart/spare"
        assert len(g.sims["limited"].requests()) == 1, "not asked again before its retry-after"
        assert g.routes()["smart"]["limited"]["retry_after_ms"] > 0
        time.sleep(0.8)
        ask(client)
        assert len(g.sims["limited"].requests()) == 2, "asked again once its retry-after passed"


def test_a_stream_failing_before_its_first_byte_comes_whole_from_the_other_deployment() -> None:
    providers = {"down": ("openai", ["--fault", "503"]), "up": ("anthropic", [])}
    with group(providers, deployments(["down", "up"], strategy="ordered")) as g:
        stream = g.openai().chat.completions.create(model="smart", messages=MESSAGES, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == "sim:u-up says: route me"
        with g.anthropic().messages.stream(model="smart", max_tokens=50, messages=MESSAGES) as events:
            assert events.get_final_text() == "sim:u-up says: route me"


def test_a_stream_reset_after_five_events_gives_those_events_and_an_error_event_nothing_spliced() -> None:
    providers = {"flaky": ("openai", ["--fault", "reset", "--reset-after", "5"]), "other": ("anthropic", [])}
    words = "one two three four five six seven eight nine ten"
    with group(providers, deployments(["flaky", "other"], strategy="ordered")) as g:
        response = httpx.post(
            g.gateway.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {g.gateway.token}"},
            json={"model": "smart", "messages": [{"role": "user", "content": words}], "stream": True}, timeout=30)
        assert response.status_code == 200
        assert response.headers["x-gatehouse-deployment"] == "smart/flaky"
        data = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
        events = [json.loads(item) for item in data if item != "[DONE]"]
        errors = [event for event in events if "error" in event]
        assert len(errors) == 1 and events[-1] is errors[0], events
        assert errors[0]["error"]["code"] == "upstream_stream_lost"
        content = [e["choices"][0]["delta"]["content"] for e in events[:-1]
                   if e.get("choices") and e["choices"][0]["delta"].get("content")]
        assert len(content) == 5, content
        assert f"sim:u-flaky says: {words}".startswith("".join(content))
        assert "u-other" not in response.text
        assert len(g.sims["other"].requests()) == 0

        # The Anthropic dialect: the events sent, then `event: error`.
        raw = httpx.post(
            g.gateway.base_url + "/v1/messages",
            headers={"x-api-key": g.gateway.token, "anthropic-version": "2023-06-01"},
            json={"model": "smart", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": words}]},
            timeout=30)
        names = [line[7:] for line in raw.text.split("\n") if line.startswith("event: ")]
        assert names[-1] == "error" and names.count("content_block_delta") == 5, names
        assert "u-other" not in raw.text
        with pytest.raises(anthropic.APIStatusError):
            with g.anthropic().messages.stream(
                    model="smart", max_tokens=50, messages=[{"role": "user", "content": words}]) as stream:
                for _ in stream:
                    pass


def test_a_prompt_too_long_for_the_model_goes_to_its_context_window_fallback() -> None:
    providers = {"small": ("openai", ["--context-window", "8"]), "large": ("anthropic", [])}
    models = ("models:\n"
              "  - {name: smart, provider: small, model: u-small, context_window_fallbacks: [long], fallbacks: [other]}\n"
              "  - {name: long, provider: large, model: u-large}\n"
              "  - {name: other, provider: small, model: u-other}\n")
    with group(providers, models) as g:
        client = g.openai()
        assert ask(client)[0] == "smart/small"  # a short prompt fits
        long_prompt = [{"role": "user", "content": "a b c d e f g h i j k l"}]
        raw = client.chat.completions.with_raw_response.create(model="smart", messages=long_prompt)
        assert raw.headers["x-gatehouse-deployment"] == "long/large"
        assert raw.headers["x-gatehouse-attempts"] == "2"
        assert raw.parse().choices[0].message.content == "sim:u-large says: a b c d e f g h i j k l"
        with g.anthropic().messages.stream(model="smart", max_tokens=50, messages=long_prompt) as events:
            assert events.get_final_text() == "sim:u-large says: a b c d e f g h i j k l"
        # Without a context-window fallback, the caller hears why, as a 400.
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="other", messages=long_prompt)
        assert caught.value.body["code"] == "context_window_exceeded"


def test_a_401_is_not_retried_and_marks_the_deployment_unhealthy_with_the_reason() -> None:
    providers = {"badkey": ("openai", []), "good": ("openai", [])}
    with group(providers, deployments(["badkey", "good"], strategy="ordered"), keys={"badkey": "sk-fake-other-0000"}) as g:
        client = g.openai()
        with pytest.raises(openai.APIStatusError) as caught:
            ask(client)
        assert caught.value.status_code == 502
        assert caught.value.body["code"] == "upstream_auth_failed"
        assert caught.value.response.headers["x-gatehouse-attempts"] == "1"
        assert len(g.sims["good"].requests()) == 0
        state = g.routes()["smart"]["badkey"]
        assert (state["state"], state["last_error"]) == ("unhealthy", "upstream_auth_failed")
        assert ask(client)[0] == "smart/good"


def test_every_deployment_down_is_a_503_in_the_callers_dialect_without_keys_or_urls() -> None:
    with group({"a": ("openai", []), "b": ("anthropic", [])}, deployments(["a", "b"])) as g:
        for sim in g.sims.values():
            sim.process.send_signal(signal.SIGKILL)
            sim.process.wait(5)
        with pytest.raises(openai.APIStatusError) as caught:
            ask(g.openai())
        assert caught.value.status_code == 503
        body = caught.value.body
        assert body["code"] == "no_deployment_available" and body["type"] == "api_error"
        with pytest.raises(anthropic.APIStatusError) as anthropic_caught:
            g.anthropic().messages.create(model="smart", max_tokens=20, messages=MESSAGES)
        assert anthropic_caught.value.status_code == 503
        assert anthropic_caught.value.body["type"] == "error"
        assert anthropic_caught.value.body["error"]["type"] == "overloaded_error"
        for text in (json.dumps(body), json.dumps(anthropic_caught.value.body)):
            assert "127.0.0.1" not in text and "http" not in text and SIM_API_KEY not in text


def test_a_failing_model_falls_back_and_a_fallback_outside_the_token_is_skipped() -> None:
    models = ("models:\n"
              "  - {name: smart, provider: broken, model: u-broken, fallbacks: [secret, cheap], retries: 1}\n"
              "  - {name: secret, provider: spare, model: u-secret}\n"
              "  - {name: cheap, provider: spare, model: u-cheap}\n")
    with group({"broken": ("openai", ["--fault", "500"]), "spare": ("openai", [])}, models) as g:
        header, attempts, text = ask(g.openai())
        # smart twice (retries: 1), then secret (the token allows every model).
        assert (header, attempts, text) == ("secret/spare", "3", "sim:u-secret says: route me")
        limited = gatehouse("token", "mint", "--subject", "limited", "--models", "smart,cheap", state=g.gateway.state)
        header, attempts, text = ask(g.openai(limited))
        assert (header, text) == ("cheap/spare", "sim:u-cheap says: route me")
        record = g.request_records(2)[-1]
        assert record["fields"]["principal"] == "limited"
        assert record["fields"]["fallbacks_skipped"] == "secret"
        assert record["fields"]["deployment"] == "cheap/spare"
        log = record["fields"]["attempt_log"].split(",")
        assert log[0].startswith("smart/broken=upstream_error:502:") and log[-1].startswith("cheap/spare=ok:200:"), log


def test_a_first_byte_later_than_the_limit_is_a_timeout_and_answered_elsewhere() -> None:
    providers = {"sluggish": ("openai", ["--latency-ms", "3000", "--ttft-ms", "3000"]), "quick": ("openai", [])}
    models = deployments(["sluggish", "quick"], strategy="ordered", extra="    timeouts: {first_byte_ms: 300}\n")
    with group(providers, models) as g:
        started = time.monotonic()
        assert ask(g.openai())[:2] == ("smart/quick", "2")
        stream = g.openai().chat.completions.create(model="smart", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "sim:u-quick says: route me"
        assert time.monotonic() - started < 2.5
        record = g.request_records(1)[0]
        assert record["fields"]["attempt_log"].startswith("smart/sluggish=upstream_timeout:504:")


def test_a_stream_idle_longer_than_the_limit_ends_with_a_timeout_event() -> None:
    providers = {"dribble": ("openai", ["--tokens-per-second", "1"])}
    models = deployments(["dribble"], extra="    timeouts: {idle_ms: 300}\n")
    with group(providers, models) as g:
        response = httpx.post(
            g.gateway.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {g.gateway.token}"},
            json={"model": "smart", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True}, timeout=30)
        events = [json.loads(line[6:]) for line in response.text.split("\n") if line.startswith("data: {")]
        assert events[-1]["error"]["code"] == "upstream_timeout", events[-1]


def test_a_mixed_openai_and_anthropic_group_serves_both_dialects_with_streams_and_tools() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Look up a word",
                                               "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
    for order in (["o", "a"], ["a", "o"]):
        providers = {"o": ("openai", ["--fault", "500"] if order[0] == "o" else []),
                     "a": ("anthropic", ["--fault", "500"] if order[0] == "a" else [])}
        with group(providers, deployments(order, strategy="ordered")) as g:
            survivor = order[1]
            header, attempts, text = ask(g.openai())
            assert header == f"smart/{survivor}" and text == f"sim:u-{survivor} says: route me"
            stream = g.openai().chat.completions.create(
                model="smart", stream=True, tools=tools, tool_choice={"type": "function", "function": {"name": "lookup"}},
                messages=[{"role": "user", "content": "look it up"}])
            calls = [c.choices[0].delta.tool_calls for c in stream if c.choices and c.choices[0].delta.tool_calls]
            assert calls and calls[0][0].function.name == "lookup"
            reply = g.anthropic().messages.create(model="smart", max_tokens=50, messages=MESSAGES)
            assert reply.content[0].text == f"sim:u-{survivor} says: route me"
            with g.anthropic().messages.stream(
                    model="smart", max_tokens=50, messages=[{"role": "user", "content": "look it up"}],
                    tools=[{"name": "lookup", "description": "Look up a word",
                            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
                    tool_choice={"type": "tool", "name": "lookup"}) as events:
                final = events.get_final_message()
            assert any(block.type == "tool_use" and block.name == "lookup" for block in final.content)


def test_the_routes_view_needs_the_admin_scope() -> None:
    with group({"a": ("openai", [])}, deployments(["a"])) as g:
        response = httpx.get(g.gateway.base_url + "/v1/gatehouse/routes",
                             headers={"authorization": f"Bearer {g.gateway.token}"}, timeout=10)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "scope_required"
        view = g.routes()["smart"]["a"]
        assert view["state"] == "healthy" and view["in_flight"] == 0 and view["provider"] == "a"
        assert "http" not in json.dumps(g.routes())


def test_the_routing_example_configuration_serves_both_dialects() -> None:
    """examples/routing.yaml is a contract: it starts as written and its models answer."""
    from conftest import REPO_ROOT, start_process

    sim = start_simulator()
    with tempfile.TemporaryDirectory(prefix="gatehouse-routing-example-") as directory:
        state = str(Path(directory) / "state")
        for name in ("openai-key", "anthropic-key"):
            gatehouse("keys", "add", name, "--stdin", state=state, stdin=SIM_API_KEY + "\n")
        token = gatehouse("token", "mint", "--subject", "example", state=state)
        process = None
        try:
            process, match = start_process(
                [os.environ.get("GATEHOUSE_BIN", str(REPO_ROOT / ".build/debug/gatehouse")), "serve", "--config",
                 str(REPO_ROOT / "examples" / "routing.yaml"), "--port", "0", "--state", state],
                r"gatehouse serve listening on (http://\S+:(\d+))", env={"GATEHOUSE_SIMULATOR_URL": sim.base_url})
            base = match.group(1)
            client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0, timeout=30)
            seen = {ask(client)[0] for _ in range(40)}
            assert seen == {"smart/primary", "smart/backup"}
            assert ask(client, "cheap")[0] in ("cheap/mini", "cheap/haiku")
            assert ask(client, "long")[0] == "long/anthropic"
            claude = anthropic.Anthropic(base_url=base, api_key=token, max_retries=0, timeout=30)
            assert claude.messages.create(model="smart", max_tokens=30, messages=MESSAGES).content[0].text.endswith("route me")
        finally:
            if process is not None:
                stop_process(process)
            stop_process(sim.process)
