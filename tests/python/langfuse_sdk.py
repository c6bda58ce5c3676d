"""The Langfuse-compatible prompt API driven by the official `langfuse` Python SDK, the way an
application uses it: only the host and keys point at promptops. Run by
tests/integration/server/langfuse_sdk.rs against a real `promptops serve`; prints
`all checks passed` when every check holds, and fails with the first one that does not.

Environment: LANGFUSE_HOST, ADMIN_PK/ADMIN_SK (an admin key pair), EDITOR_PK/EDITOR_SK (an
editor key pair)."""

import logging
import os
import sys
import urllib.parse

from langfuse import Langfuse
from langfuse.api import Error as BadRequest
from langfuse.api import NotFoundError

logging.getLogger("langfuse").setLevel(logging.CRITICAL)

HOST = os.environ["LANGFUSE_HOST"]


def client(role):
    return Langfuse(
        public_key=os.environ[f"{role}_PK"],
        secret_key=os.environ[f"{role}_SK"],
        host=HOST,
        tracing_enabled=False,
    )


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)


def refused(call, kind):
    try:
        call()
    except kind as err:
        return err
    print(f"FAILED: expected {kind.__name__} from {call}")
    sys.exit(1)


admin = client("ADMIN")
editor = client("EDITOR")
check(admin.auth_check(), "auth_check with an admin key pair")

# 1. config is arbitrary JSON, kept and returned exactly.
config = {
    "model": "gpt-4o-mini",
    "temperature": 0.2,
    "max_tokens": 300,
    "json_schema": {"type": "object", "properties": {"label": {"type": "string", "enum": ["bug", "billing"]}}},
    "supported_languages": ["en", "de", "fr"],
    "nested": {"deep": [1, 2.5, None, True, {"x": "y"}]},
}
created = admin.create_prompt(
    name="support/triage",
    prompt="Classify this ticket from {{customer}}: {{ticket}}",
    config=config,
    labels=["staging"],
    tags=["support", "v1"],
    commit_message="first",
)
check(created.version == 1, f"first version is 1, got {created.version}")
check(created.config == config, f"config returned exactly on create: {created.config}")
check(sorted(created.labels) == ["latest", "staging"], f"labels on create: {created.labels}")
check(created.commit_message == "first", f"commit message: {created.commit_message}")
fetched = admin.get_prompt("support/triage", label="staging", cache_ttl_seconds=0)
check(fetched.config == config, f"config returned exactly on fetch: {fetched.config}")
check(
    fetched.compile(customer="Ada", ticket="I was charged twice")
    == "Classify this ticket from Ada: I was charged twice",
    f"compile: {fetched.compile(customer='Ada', ticket='I was charged twice')}",
)

# Versions, labels and the default `production` fetch.
refused(lambda: admin.get_prompt("support/triage", cache_ttl_seconds=0), NotFoundError)
second = admin.create_prompt(
    name="support/triage",
    prompt="Classify this ticket ({{ticket}}) for {{customer}}.",
    config={**config, "temperature": 0.0},
    labels=["production"],
)
check(second.version == 2, f"second version is 2, got {second.version}")
production = admin.get_prompt("support/triage", cache_ttl_seconds=0)
check(production.version == 2, f"the default fetch is production: {production.version}")
check(production.config["temperature"] == 0.0, f"config of v2: {production.config}")
v1 = admin.get_prompt("support/triage", version=1, cache_ttl_seconds=0)
check(v1.prompt.startswith("Classify this ticket from"), f"version=1: {v1.prompt}")

# Rollback: move `production` back to version 1; v2 keeps `latest` only.
admin.update_prompt(name="support/triage", version=1, new_labels=["production"])
rolled = admin.get_prompt("support/triage", cache_ttl_seconds=0)
check(rolled.version == 1, f"rollback by moving production: {rolled.version}")
check(sorted(rolled.labels) == ["production", "staging"], f"labels of v1 after rollback: {rolled.labels}")
latest = admin.get_prompt("support/triage", label="latest", cache_ttl_seconds=0)
check((latest.version, latest.labels) == (2, ["latest"]), f"v2 after rollback: {latest.version} {latest.labels}")

# An editor key may not move the protected `production` label.
refused(lambda: editor.update_prompt(name="support/triage", version=2, new_labels=["production"]), Exception)
check(admin.get_prompt("support/triage", cache_ttl_seconds=0).version == 1, "a refused move moves nothing")

# Chat prompts with config.
chat = admin.create_prompt(
    name="support/reply",
    type="chat",
    prompt=[
        {"role": "system", "content": "You answer for {{company}}."},
        {"role": "user", "content": "{{question}}"},
    ],
    config={"model": "gpt-4o", "response_format": {"type": "json_object"}},
    labels=["production"],
)
check(chat.version == 1, f"chat version: {chat.version}")
reply = admin.get_prompt("support/reply", type="chat", cache_ttl_seconds=0)
check(reply.config == {"model": "gpt-4o", "response_format": {"type": "json_object"}}, f"chat config: {reply.config}")
check(
    reply.compile(company="Acme", question="Where is my order?")
    == [
        {"role": "system", "content": "You answer for Acme."},
        {"role": "user", "content": "Where is my order?"},
    ],
    f"chat compile: {reply.compile(company='Acme', question='Where is my order?')}",
)

# 404s and the SDK's fallback.
refused(lambda: admin.get_prompt("no/such-prompt", cache_ttl_seconds=0), NotFoundError)
refused(lambda: admin.get_prompt("support/triage", version=99, cache_ttl_seconds=0), NotFoundError)
refused(lambda: admin.get_prompt("support/triage", label="no-such-label", cache_ttl_seconds=0), NotFoundError)
fallback = admin.get_prompt("no/such-prompt", fallback="Hello {{name}}", cache_ttl_seconds=0)
check(fallback.is_fallback and fallback.compile(name="Bo") == "Hello Bo", "the SDK's fallback on a 404")

# Bad config values promptops reads are refused with a message naming the key.
err = refused(
    lambda: admin.create_prompt(name="support/bad", prompt="x", config={"temperature": "hot"}), BadRequest
)
check("config.temperature" in str(err.body), f"the refusal names config.temperature: {err.body}")

# 2. Tags and type belong to the prompt name.
third = admin.create_prompt(name="support/triage", prompt="Triage {{ticket}} for {{customer}}.", tags=None)
check(third.version == 3 and sorted(third.tags) == ["support", "v1"], f"tags kept when omitted: {third.tags}")
fourth = admin.create_prompt(name="support/triage", prompt="Triage: {{ticket}} ({{customer}})", tags=["support", "v2"])
check(fourth.version == 4, f"fourth version: {fourth.version}")
old = admin.get_prompt("support/triage", version=1, cache_ttl_seconds=0)
check(sorted(old.tags) == ["support", "v2"], f"tags are the same on every version: {old.tags}")
err = refused(
    lambda: admin.create_prompt(name="support/triage", type="chat", prompt=[{"role": "user", "content": "hi"}]),
    BadRequest,
)
check("different prompt type" in str(err.body), f"type mismatch message: {err.body}")
err = refused(lambda: admin.create_prompt(name="support/reply", prompt="just text"), BadRequest)
check("different prompt type" in str(err.body), f"text on a chat prompt: {err.body}")
single = admin.create_prompt(name="support/single", type="chat", prompt=[{"role": "user", "content": "{{q}}"}])
check(
    admin.get_prompt("support/single", label="latest", type="chat", cache_ttl_seconds=0).compile(q="x")
    == [{"role": "user", "content": "x"}],
    "a one-message chat prompt stays chat",
)
err = refused(lambda: admin.update_prompt(name="support/triage", version=4, new_labels=["latest"]), BadRequest)
check("latest" in str(err.body), f"latest is reserved: {err.body}")

# The list, with its filters.
import datetime

listed = admin.api.prompts.list(limit=50)
names = sorted(p.name for p in listed.data)
check(names == ["support/reply", "support/single", "support/triage"], f"list: {names}")
triage = next(p for p in listed.data if p.name == "support/triage")
check(triage.versions == [1, 2, 3, 4], f"versions: {triage.versions}")
check(sorted(triage.labels) == ["latest", "production", "staging"], f"list labels: {triage.labels}")
check(triage.last_config == {}, f"lastConfig is the newest version's (created without config): {triage.last_config}")
reply_meta = next(p for p in listed.data if p.name == "support/reply")
check(
    reply_meta.last_config == {"model": "gpt-4o", "response_format": {"type": "json_object"}},
    f"lastConfig: {reply_meta.last_config}",
)
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
future = datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone.utc)
check(len(admin.api.prompts.list(from_updated_at=past).data) == 3, "fromUpdatedAt in the past keeps all")
check(admin.api.prompts.list(from_updated_at=future).data == [], "fromUpdatedAt in the future keeps none")
check(admin.api.prompts.list(to_updated_at=past).data == [], "toUpdatedAt in the past keeps none")
check([p.name for p in admin.api.prompts.list(tag="v2").data] == ["support/triage"], "tag filter")
check([p.name for p in admin.api.prompts.list(label="staging").data] == ["support/triage"], "label filter")

# 3. What the SDK receives is usable: Jinja-only constructs are refused at create time.
err = refused(
    lambda: admin.create_prompt(name="support/jinja", prompt="{% if vip %}Dear {{name}}{% endif %}"), BadRequest
)
check("compile()" in str(err.body), f"a Jinja construct is refused clearly: {err.body}")

# 4. Chat placeholders, stored and served; compile() fills them.
admin.create_prompt(
    name="support/conversation",
    type="chat",
    prompt=[
        {"role": "system", "content": "You help {{customer}}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
    ],
    labels=["production"],
)
conversation = admin.get_prompt("support/conversation", type="chat", cache_ttl_seconds=0)
history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
compiled = conversation.compile(customer="Ada", question="Refund?", history=history)
check(
    compiled
    == [
        {"role": "system", "content": "You help Ada."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Refund?"},
    ],
    f"compile with a placeholder: {compiled}",
)
check(conversation.config == {}, f"no config appears for a placeholder: {conversation.config}")
err = refused(
    lambda: admin.create_prompt(name="support/bad-chat", type="chat", prompt=[{"type": "placeholder", "name": "a b"}]),
    BadRequest,
)
check("prompt[0]" in str(err.body), f"a bad placeholder is named: {err.body}")

# 5. Composition: references resolved when served, raw with resolve=False, refused when broken.
admin.create_prompt(name="shared/voice", prompt="Be kind to {{customer}}.", labels=["production"])
admin.create_prompt(name="shared/voice", prompt="Be terse with {{customer}}.")
admin.create_prompt(
    name="support/composed",
    prompt="@@@langfusePrompt:name=shared/voice|label=production@@@ Answer {{question}}. "
    "@@@langfusePrompt:name=shared/voice|version=2@@@",
    labels=["production"],
)
composed = admin.get_prompt("support/composed", cache_ttl_seconds=0)
check(
    composed.prompt == "Be kind to {{customer}}. Answer {{question}}. Be terse with {{customer}}.",
    f"composition resolved: {composed.prompt}",
)
check(
    composed.compile(customer="Ada", question="why")
    == "Be kind to Ada. Answer why. Be terse with Ada.",
    "compile of a composed prompt",
)
raw = admin.api.prompts.get(urllib.parse.quote("support/composed", safe=""), resolve=False)
check(raw.prompt.startswith("@@@langfusePrompt:name=shared/voice|label=production@@@"), f"resolve=False: {raw.prompt}")
resolved = admin.api.prompts.get(urllib.parse.quote("support/composed", safe=""))
graph = resolved.resolution_graph
check(graph is not None and graph["root"]["name"] == "support/composed", f"resolutionGraph root: {graph}")
children = sorted((d["name"], d["version"]) for deps in graph["dependencies"].values() for d in deps)
check(children == [("shared/voice", 1), ("shared/voice", 2)], f"resolutionGraph dependencies: {graph}")
err = refused(
    lambda: admin.create_prompt(name="support/broken", prompt="@@@langfusePrompt:name=no/such|label=production@@@"),
    BadRequest,
)
check("does not resolve" in str(err.body), f"a missing reference is refused: {err.body}")
err = refused(
    lambda: admin.create_prompt(name="shared/voice", prompt="@@@langfusePrompt:name=support/composed|label=production@@@"),
    BadRequest,
)
check("cycle" in str(err.body), f"a cycle is refused: {err.body}")
err = refused(
    lambda: admin.create_prompt(name="support/onchat", prompt="@@@langfusePrompt:name=support/reply|label=production@@@"),
    BadRequest,
)
check("only text prompts" in str(err.body), f"a chat reference is refused: {err.body}")

#@@EXTEND@@

print("all checks passed")
