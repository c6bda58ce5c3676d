-- The response cache of the provider layer and the usage/cost ledger behind budgets and
-- `promptops cost`. Every row carries the tenant and project it belongs to. Same shape as
-- SQLite's 0002.
CREATE TABLE response_cache (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    response   TEXT             NOT NULL,
    created_at TIMESTAMPTZ      NOT NULL,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, project_id, key)
);

CREATE TABLE usage_events (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           TEXT COLLATE "C" NOT NULL,
    project_id          TEXT COLLATE "C" NOT NULL,
    at                  TIMESTAMPTZ      NOT NULL,
    provider            TEXT COLLATE "C" NOT NULL,
    model               TEXT COLLATE "C" NOT NULL,
    prompt              TEXT,
    input_tokens        BIGINT           NOT NULL,
    output_tokens       BIGINT           NOT NULL,
    cached_input_tokens BIGINT           NOT NULL,
    cost_micros         BIGINT           NOT NULL,
    cache_hit           BOOLEAN          NOT NULL
);

CREATE INDEX usage_events_by_time ON usage_events (tenant_id, project_id, at);
