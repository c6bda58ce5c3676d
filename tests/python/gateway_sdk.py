"""The promptops gateway driven by the official `openai` Python SDK, unchanged: only `base_url`
and a promptops gateway key. Run by tests/integration/server/python_sdk.rs, which starts the server
and the stub model and passes what this script needs in the environment. Every check prints one
line; the first failure raises and the script exits non-zero."""

import asyncio
import concurrent.futures
import json
import os
import urllib.request

import openai
from openai import AsyncOpenAI, OpenAI

BASE = os.environ["GATEWAY_BASE"]
SERVER = os.environ["SERVER_BASE"]
client = OpenAI(base_url=BASE, api_key=os.environ["GATEWAY_KEY"], max_retries=0)


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok {name}")


def expect_error(name, kind, code, call):
    try:
        call()
    except kind as err:
        body = err.body if isinstance(err.body, dict) else {}
        check(name, body.get("code") == code, f"code {body.get('code')!r}, body {err.body!r}")
        return err
    raise AssertionError(f"{name}: no {kind.__name__}")


def move_label(label, version):
    request = urllib.request.Request(
        f"{SERVER}/api/v1/projects/web/prompts/greet/labels/{label}",
        data=json.dumps({"version": version}).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {os.environ['ADMIN_TOKEN']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


ids = [m.id for m in client.models.list()]
check("models_list", "fast" in ids and "prompt:greet@production" in ids, ids)

plain = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "plain call"}])
check("plain", plain.choices[0].message.content == "plain call", plain)
check("plain_usage", plain.usage.prompt_tokens > 0 and plain.usage.completion_tokens > 0, plain.usage)

raw = client.chat.completions.with_raw_response.create(
    model="prompt:greet@production", messages=[], extra_body={"prompt_variables": {"name": "Ada"}}
)
answer = raw.parse()
check("prompt_model_shorthand", answer.choices[0].message.content == "Hello Ada", answer)
check("prompt_headers", raw.headers.get("x-promptops-prompt-version") == "1", dict(raw.headers))
check("trace_header", raw.headers.get("x-promptops-trace-id", "").startswith("trc_"), dict(raw.headers))

fields = client.chat.completions.create(
    model="fast",
    messages=[],
    extra_body={"prompt_id": "greet", "prompt_label": "staging", "prompt_variables": {"name": "Bo"}},
)
check("prompt_body_fields", fields.choices[0].message.content == "Hi Bo", fields)

header = client.chat.completions.create(
    model="fast",
    messages=[],
    extra_headers={"X-Promptops-Prompt": "greet@staging"},
    extra_body={"prompt_variables": {"name": "Cy"}},
)
check("prompt_header", header.choices[0].message.content == "Hi Cy", header)

move_label("production", 2)
moved = client.chat.completions.with_raw_response.create(
    model="prompt:greet@production", messages=[], extra_body={"prompt_variables": {"name": "Ada"}}
)
check("label_move_live", moved.headers.get("x-promptops-prompt-version") == "2", dict(moved.headers))

expect_error(
    "missing_variables",
    openai.BadRequestError,
    "missing_prompt_variables",
    lambda: client.chat.completions.create(model="prompt:greet@production", messages=[]),
)

chunks = list(
    client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "plain call"}],
        stream=True,
        stream_options={"include_usage": True},
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
check("stream_sync", text == "plain call", chunks)
check("stream_usage", chunks[-1].usage is not None and chunks[-1].usage.total_tokens == plain.usage.total_tokens, chunks[-1])


async def stream_async():
    aclient = AsyncOpenAI(base_url=BASE, api_key=os.environ["GATEWAY_KEY"], max_retries=0)
    stream = await aclient.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "async call"}], stream=True
    )
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


check("stream_async", asyncio.run(stream_async()) == "async call")

vectors = client.embeddings.create(model="fast", input=["one text", "another"])
check("embeddings", len(vectors.data) == 2 and len(vectors.data[0].embedding) > 0, vectors)

budget = OpenAI(base_url=BASE, api_key=os.environ["BUDGET_KEY"], max_retries=0)


def one_call(_):
    try:
        budget.chat.completions.create(model="fast", max_tokens=10, messages=[{"role": "user", "content": "hello"}])
        return "ok"
    except openai.RateLimitError as err:
        return err.body.get("code")


with concurrent.futures.ThreadPoolExecutor(20) as pool:
    outcomes = list(pool.map(one_call, range(20)))
check("budget_hard_stop", "budget_exceeded" in outcomes and "ok" in outcomes, outcomes)

limited = OpenAI(base_url=BASE, api_key=os.environ["RPM_KEY"], max_retries=0)
for _ in range(2):
    limited.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
err = expect_error(
    "rate_limit",
    openai.RateLimitError,
    "rate_limit_exceeded",
    lambda: limited.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}]),
)
check("retry_after", int(err.response.headers.get("retry-after", "0")) >= 1, dict(err.response.headers))

per_user = OpenAI(base_url=BASE, api_key=os.environ["USER_BUDGET_KEY"], max_retries=0)


def as_user(user):
    message = [{"role": "user", "content": "hello"}]
    return per_user.chat.completions.create(model="fast", max_tokens=10, user=user, messages=message)


spent = []
for _ in range(20):
    try:
        as_user("ada")
        spent.append("ok")
    except openai.RateLimitError as err:
        spent.append(err.body.get("code"))
        break
check("end_user_budget", spent[-1] == "budget_exceeded" and "ok" in spent, spent)
check("end_user_budget_is_per_user", as_user("bob").choices[0].message.content == "hello")
expect_error(
    "end_user_required",
    openai.BadRequestError,
    "missing_user",
    lambda: per_user.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}]),
)

expect_error(
    "unknown_model",
    openai.NotFoundError,
    "model_not_found",
    lambda: client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}]),
)
bad = OpenAI(base_url=BASE, api_key="pog_not-a-real-key", max_retries=0)
expect_error("bad_key", openai.AuthenticationError, "invalid_api_key", lambda: bad.models.list())
print("all checks passed")
