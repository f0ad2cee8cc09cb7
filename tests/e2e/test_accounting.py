"""Accounting end to end: prices, the cost header, budgets and rate limits carried by tokens and set in the
config, the SDKs' own retry on `retry-after`, and the usage store (`/v1/gatehouse/usage`, `gatehouse usage`),
checked against costs computed here from the configured prices and the token counts the simulator reported.
One gateway on its default SQLite ledger, in front of a real simulator, with the official SDKs as clients."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from decimal import Decimal
from typing import Iterator

import anthropic
import httpx
import openai
import pytest

from conftest import gatehouse, wait_until
from test_failover import Group, group

# Dear prices, so that tiny budgets are spent in a few requests: dollars per million tokens.
PRICES = {
    "u-m": (Decimal(1000), Decimal(2000)),
    "u-x": (Decimal(3000), Decimal(5000)),
}
MESSAGES = [{"role": "user", "content": "count my cost"}]


def cost_of(model: str, prompt: int, completion: int) -> Decimal:
    """What the gateway should charge, from the configured price and the provider's counts."""
    inp, out = PRICES[model]
    return (Decimal(prompt) * inp + Decimal(completion) * out) / Decimal(1_000_000)


@pytest.fixture(scope="module")
def accounted() -> Iterator[Group]:
    models = """models:
  - {name: metered, provider: o, model: u-m}
  - {name: pricey, provider: o, model: u-x}
  - {name: free, provider: o, model: u-free}
  - {name: anthro, provider: a, model: u-m}
  - name: spread
    strategy: ordered
    deployments:
      - {name: capped, provider: o, model: u-m, limits: {rpm: 3}}
      - {name: spare, provider: o, model: u-m}
  - {name: narrow, provider: o, model: u-m, limits: {rpm: 2}}
prices:
  u-m: {input_per_mtok: 1000, output_per_mtok: 2000}
  u-x: {input_per_mtok: 3000, output_per_mtok: 5000}
budgets:
  teams:
    capped: {usd: 0.5, period: day}
limits:
  models:
    pricey: {rpm: 1000, tpm: 1000000}
"""
    with group({"o": ("openai", []), "a": ("anthropic", [])}, models) as g:
        yield g


def mint(g: Group, subject: str, *options: str) -> str:
    return gatehouse("token", "mint", "--subject", subject, *options, state=g.gateway.state)


def usage(g: Group, group_by: str) -> dict[str, dict]:
    """The usage report by `group_by`, once its request count stops changing (rows arrive with the audit records)."""
    reader = mint(g, "reader", "--scope", "usage:read")
    report: dict[str, dict] = {}

    def fetch() -> dict[str, dict]:
        response = httpx.get(g.gateway.base_url + "/v1/gatehouse/usage", params={"group_by": group_by},
                             headers={"authorization": f"Bearer {reader}"}, timeout=10)
        assert response.status_code == 200, response.text
        return {row["key"]: row for row in response.json()["data"]}

    def settled() -> bool:
        nonlocal report
        first = fetch()
        time.sleep(0.4)
        report = fetch()
        return first == report

    assert wait_until(settled, timeout=10)
    return report


def crowd(clients: list[openai.OpenAI], count: int) -> tuple[list[Decimal], dict[str, int], float]:
    """`count` requests from 32 threads, spread over `clients` in turn: the costs of those served, the
    refusals by code, and the seconds it took."""
    lock = threading.Lock()
    costs: list[Decimal] = []
    refusals: dict[str, int] = {}

    def one(index: int) -> None:
        try:
            raw = clients[index % len(clients)].chat.completions.with_raw_response.create(
                model="metered", messages=MESSAGES, max_tokens=5)
            reply = raw.parse()
            with lock:
                costs.append(cost_of("u-m", reply.usage.prompt_tokens, reply.usage.completion_tokens))
        except openai.RateLimitError as error:
            with lock:
                code = error.response.json()["error"]["code"]
                refusals[code] = refusals.get(code, 0) + 1

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(count)))
    return costs, refusals, time.monotonic() - started


def test_every_answer_carries_its_cost_computed_from_the_price_table(accounted: Group) -> None:
    client = accounted.openai()
    raw = client.chat.completions.with_raw_response.create(model="metered", messages=MESSAGES, max_tokens=8)
    reply = raw.parse()
    expected = cost_of("u-m", reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert Decimal(raw.headers["x-gatehouse-cost-usd"]) == expected
    # An unpriced model is served at zero cost (pricing.unknown defaults to zero, with a warning at start).
    raw = client.chat.completions.with_raw_response.create(model="free", messages=MESSAGES, max_tokens=8)
    assert raw.headers["x-gatehouse-cost-usd"] == "0"
    assert "has no price" in accounted.gateway.stderr_path.read_text()
    # The cost is in the request's audit record too.
    records = [r for r in accounted.request_records(2) if r["fields"].get("model") == "metered"]
    assert Decimal(records[-1]["fields"]["cost_usd"]) == expected


def test_a_tiny_token_budget_is_spent_then_refused_in_both_dialects_and_streaming(accounted: Group) -> None:
    budget = Decimal("0.3")
    token = mint(accounted, "spender", "--budget-usd", str(budget), "--budget-period", "day")
    client = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=2)
    spent = Decimal(0)
    refusal = None
    for _ in range(60):
        try:
            raw = client.chat.completions.with_raw_response.create(model="metered", messages=MESSAGES, max_tokens=5)
        except openai.RateLimitError as error:
            refusal = error
            break
        reply = raw.parse()
        spent += cost_of("u-m", reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert refusal is not None, "the budget was never enforced"
    assert refusal.status_code == 429
    body = refusal.response.json()["error"]
    assert body["code"] == "budget_exceeded"
    assert "resets at" in body["message"] and token not in body["message"]
    # The SDK did not retry a spent budget: the gateway said so.
    assert refusal.response.headers["x-should-retry"] == "false"
    assert spent <= budget
    # Refused only once the worst case of one more request no longer fitted (a reservation is well under $0.3).
    assert spent > budget - Decimal("0.3")
    # Streaming and the Anthropic dialect are refused alike, before anything streams.
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="metered", messages=MESSAGES, max_tokens=5, stream=True)
    messages = anthropic.Anthropic(base_url=accounted.gateway.base_url, api_key=token, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        messages.messages.create(model="anthro", max_tokens=5, messages=MESSAGES)
    assert caught.value.response.json()["type"] == "error"
    assert "budget" in caught.value.response.json()["error"]["message"]


def test_streamed_answers_are_billed_from_their_usage_until_the_budget_is_spent(accounted: Group) -> None:
    budget = Decimal("0.2")
    token = mint(accounted, "streamer", "--budget-usd", str(budget))
    client = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=0)
    messages = anthropic.Anthropic(base_url=accounted.gateway.base_url, api_key=token, max_retries=0)
    spent = Decimal(0)
    refused = False
    for turn in range(60):
        try:
            if turn % 2 == 0:
                stream = client.chat.completions.create(
                    model="metered", messages=MESSAGES, max_tokens=5, stream=True,
                    stream_options={"include_usage": True})
                chunks = list(stream)
                last = chunks[-1].usage
                spent += cost_of("u-m", last.prompt_tokens, last.completion_tokens)
            else:
                with messages.messages.stream(model="anthro", max_tokens=5, messages=MESSAGES) as stream:
                    final = stream.get_final_message()
                spent += cost_of("u-m", final.usage.input_tokens, final.usage.output_tokens)
        except (openai.RateLimitError, anthropic.RateLimitError):
            refused = True
            break
        # A stream's cost is settled when its record is written, just after the caller read the end.
        time.sleep(0.05)
    assert refused
    assert Decimal(0) < spent <= budget


def test_rpm_five_refuses_the_sixth_with_retry_after_and_headers_and_the_sdk_retry_honours_it(accounted: Group) -> None:
    token = mint(accounted, "limited", "--rpm", "5")
    client = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=0)
    remaining = []
    for _ in range(5):
        raw = client.chat.completions.with_raw_response.create(model="metered", messages=MESSAGES, max_tokens=3)
        assert raw.headers["x-ratelimit-limit-requests"] == "5"
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == [4, 3, 2, 1, 0]
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="metered", messages=MESSAGES, max_tokens=3)
    assert caught.value.response.json()["error"]["code"] == "rate_limited"
    wait = int(caught.value.response.headers["retry-after"])
    assert 1 <= wait <= 12
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert caught.value.response.headers["x-ratelimit-limit-requests"] == "5"
    # The Anthropic dialect carries Anthropic's header names.
    messages = anthropic.Anthropic(base_url=accounted.gateway.base_url, api_key=token, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        messages.messages.create(model="anthro", max_tokens=3, messages=MESSAGES)
    assert "retry-after" in refused.value.response.headers
    # The SDK's own retry waits as told, then gets through.
    patient = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=3)
    started = time.monotonic()
    patient.chat.completions.create(model="metered", messages=MESSAGES, max_tokens=3)
    assert time.monotonic() - started >= 1
    anthropic_token = mint(accounted, "limited-a", "--rpm", "2")
    messages = anthropic.Anthropic(base_url=accounted.gateway.base_url, api_key=anthropic_token, max_retries=0)
    raw = messages.messages.with_raw_response.create(model="anthro", max_tokens=3, messages=MESSAGES)
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert "anthropic-ratelimit-requests-reset" in raw.headers


def test_a_team_budget_in_the_config_binds_every_token_of_the_team(accounted: Group) -> None:
    first = mint(accounted, "member-1", "--team", "capped")
    second = mint(accounted, "member-2", "--team", "capped")
    clients = [openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=t, max_retries=0)
               for t in (first, second)]
    served = 0
    refusal = None
    for turn in range(80):
        try:
            clients[turn % 2].chat.completions.create(model="pricey", messages=MESSAGES, max_tokens=5)
            served += 1
        except openai.RateLimitError as error:
            refusal = error
            break
    assert refusal is not None and served > 2
    message = refusal.response.json()["error"]["message"]
    assert "team 'capped'" in message and "per day" in message


def test_concurrent_requests_against_one_budget_and_one_rpm_stay_within_them(accounted: Group) -> None:
    budget = Decimal("1.0")
    token = mint(accounted, "crowd", "--budget-usd", str(budget), "--rpm", "40")
    client = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=0, timeout=30)
    accounted.sims["o"].clear()
    costs, refusals, elapsed = crowd([client], 200)
    assert len(costs) + sum(refusals.values()) == 200
    # The documented bound (docs/accounting.md): the whole limit at once, then one more every 60/40 s, over the
    # run and the 2 s a lease may be held.
    assert len(costs) <= 40 + int((elapsed + 2) / 1.5) + 1
    assert sum(costs) <= budget
    assert refusals, "nothing was refused"
    served = [r for r in accounted.sims["o"].requests() if r["path"].endswith("/chat/completions")]
    assert len(served) == len(costs)
    report = usage(accounted, "subject")
    assert report["crowd"]["requests"] == 200
    assert Decimal(report["crowd"]["cost_usd"]) == sum(costs)


def test_usage_groups_match_the_costs_computed_independently(accounted: Group) -> None:
    spend: dict[str, Decimal] = {}
    for subject, team in (("ana", "red"), ("ben", "red"), ("cai", "blue")):
        token = mint(accounted, subject, "--team", team)
        client = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=0)
        for model, upstream in (("metered", "u-m"), ("pricey", "u-x")):
            reply = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
            amount = cost_of(upstream, reply.usage.prompt_tokens, reply.usage.completion_tokens)
            spend[subject] = spend.get(subject, Decimal(0)) + amount
            spend["team:" + team] = spend.get("team:" + team, Decimal(0)) + amount
    by_subject = usage(accounted, "subject")
    for subject in ("ana", "ben", "cai"):
        assert Decimal(by_subject[subject]["cost_usd"]) == spend[subject]
        assert by_subject[subject]["requests"] == 2
    by_team = usage(accounted, "team")
    assert Decimal(by_team["blue"]["cost_usd"]) == spend["team:blue"]
    assert Decimal(by_team["red"]["cost_usd"]) == spend["team:red"]
    by_model = usage(accounted, "model")
    assert by_model["pricey"]["requests"] >= 3
    by_day = usage(accounted, "day")
    assert len(by_day) == 1
    # The CLI reads the same store.
    text = gatehouse("usage", "--by", "team", "--json", state=accounted.gateway.state)
    rows = {row["key"]: row for row in json.loads(text)["data"]}
    assert Decimal(rows["blue"]["cost_usd"]) == spend["team:blue"]
    csv = gatehouse("usage", "--by", "subject", "--csv", state=accounted.gateway.state)
    assert csv.splitlines()[0] == "subject,requests,prompt_tokens,completion_tokens,cached_tokens,cost_usd"


def test_usage_needs_its_scope_and_refuses_bad_queries(accounted: Group) -> None:
    url = accounted.gateway.base_url + "/v1/gatehouse/usage"
    plain = httpx.get(url, headers={"authorization": f"Bearer {accounted.gateway.token}"}, timeout=10)
    assert plain.status_code == 403 and plain.json()["error"]["code"] == "scope_required"
    admin = {"authorization": f"Bearer {accounted.admin_token}"}
    assert httpx.get(url, params={"group_by": "color"}, headers=admin, timeout=10).status_code == 400
    assert httpx.get(url, params={"from": "yesterday"}, headers=admin, timeout=10).status_code == 400
    ok = httpx.get(url, params={"group_by": "day", "from": "2026-01-01"}, headers=admin, timeout=10)
    assert ok.status_code == 200 and ok.json()["group_by"] == "day"


def test_a_deployment_at_its_providers_limit_is_skipped_not_hammered(accounted: Group) -> None:
    client = accounted.openai()
    answered_by = []
    for _ in range(6):
        raw = client.chat.completions.with_raw_response.create(model="spread", messages=MESSAGES, max_tokens=3)
        answered_by.append(raw.headers["x-gatehouse-deployment"])
        # Skipping a deployment at its limit is not an attempt.
        assert raw.headers["x-gatehouse-attempts"] == "1"
    assert answered_by == ["spread/capped"] * 3 + ["spread/spare"] * 3
    # A model whose only deployment is at its limit is refused before the provider is asked.
    for _ in range(2):
        client.chat.completions.create(model="narrow", messages=MESSAGES, max_tokens=3)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="narrow", messages=MESSAGES, max_tokens=3)
    assert caught.value.response.json()["error"]["code"] == "rate_limited"
    assert "at its rate limit" in caught.value.response.json()["error"]["message"]


def test_a_tokens_per_minute_limit_counts_the_answers_real_size(accounted: Group) -> None:
    token = mint(accounted, "tpm-limited", "--tpm", "60")
    client = openai.OpenAI(base_url=accounted.gateway.base_url + "/v1", api_key=token, max_retries=0)
    used = 0
    refusal = None
    for _ in range(20):
        try:
            raw = client.chat.completions.with_raw_response.create(model="metered", messages=MESSAGES, max_tokens=5)
        except openai.RateLimitError as error:
            refusal = error
            break
        assert raw.headers["x-ratelimit-limit-tokens"] == "60"
        used += raw.parse().usage.total_tokens
        time.sleep(0.05)  # the answer's real size is charged when its record is written
    assert refusal is not None
    assert "tokens per minute" in refusal.response.json()["error"]["message"]
    assert refusal.response.headers["x-ratelimit-remaining-tokens"] == "0"
    # Admitted while the minute's tokens lasted: at most the limit and one more request's worth.
    assert 0 < used <= 60 + 20
