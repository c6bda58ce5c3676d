-- A/B experiments: which arms were compared (each arm an eval run), how, and the analysis as
-- it was reported (JSON text, owned by the `ab` module; the store does not read it). Numbered
-- per project like runs. Same shape as SQLite's 0005.
CREATE TABLE experiments (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    id         BIGINT           NOT NULL CHECK (id > 0),
    suite      TEXT COLLATE "C" NOT NULL,
    arms       TEXT             NOT NULL,
    sequential BOOLEAN          NOT NULL,
    alpha      DOUBLE PRECISION NOT NULL,
    outcome    TEXT             NOT NULL,
    summary    TEXT             NOT NULL,
    analysis   TEXT             NOT NULL,
    actor      TEXT             NOT NULL,
    created_at TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (tenant_id, project_id, id)
);

CREATE INDEX experiments_by_suite ON experiments (tenant_id, project_id, suite, id);
