-- The inference gateway: provider connections (API keys sealed by the server's master key, never
-- in clear), the limits of gateway keys (API tokens allowed to call /v1), gateway settings of a
-- project or a tenant ('' as project), meters (rate, in-flight and budget state per scope) and
-- one trace per request. `gateway_revision` grows on every change of the first three, so that
-- every server notices what another one changed.
CREATE TABLE provider_connections (
    tenant_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    spec       TEXT NOT NULL,
    sealed_key TEXT,
    key_hint   TEXT,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, project_id, id)
) STRICT;

CREATE TABLE gateway_keys (
    token_id   TEXT NOT NULL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    spec       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX gateway_keys_by_project ON gateway_keys (tenant_id, project_id);

CREATE TABLE gateway_settings (
    tenant_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    spec       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, project_id)
) STRICT;

CREATE TABLE gateway_meters (
    tenant_id      TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    rpm_tat        INTEGER NOT NULL DEFAULT 0,
    tpm_tat        INTEGER NOT NULL DEFAULT 0,
    in_flight      INTEGER NOT NULL DEFAULT 0,
    day            INTEGER NOT NULL DEFAULT 0,
    day_spent      INTEGER NOT NULL DEFAULT 0,
    day_reserved   INTEGER NOT NULL DEFAULT 0,
    month          INTEGER NOT NULL DEFAULT 0,
    month_spent    INTEGER NOT NULL DEFAULT 0,
    month_reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, key)
) STRICT;

CREATE TABLE gateway_traces (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT    NOT NULL,
    project_id     TEXT    NOT NULL,
    trace_id       TEXT    NOT NULL,
    at             TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    prompt         TEXT,
    prompt_label   TEXT,
    prompt_version INTEGER,
    model          TEXT    NOT NULL,
    fallback       TEXT,
    endpoint       TEXT    NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    cost_micros    INTEGER NOT NULL,
    latency_ms     INTEGER NOT NULL,
    ttft_ms        INTEGER,
    attempts       INTEGER NOT NULL,
    cache          TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    http_status    INTEGER NOT NULL,
    error          TEXT,
    variables      TEXT,
    output         TEXT
) STRICT;

CREATE INDEX gateway_traces_by_project ON gateway_traces (tenant_id, project_id, id);

CREATE TABLE gateway_revision (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;

INSERT INTO gateway_revision (id, n) VALUES (1, 0);
