-- The response cache of the provider layer and the usage/cost ledger behind budgets and
-- `promptops cost`. Every row carries the tenant and project it belongs to.
CREATE TABLE response_cache (
    tenant_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    key        TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (tenant_id, project_id, key)
) STRICT;

CREATE TABLE usage_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id           TEXT    NOT NULL,
    project_id          TEXT    NOT NULL,
    at                  TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    prompt              TEXT,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    cache_hit           INTEGER NOT NULL
) STRICT;

CREATE INDEX usage_events_by_time ON usage_events (tenant_id, project_id, at);
