-- A/B experiments: which arms were compared (each arm an eval run), how, and the analysis as
-- it was reported (JSON, owned by the `ab` module; the store does not read it). Numbered per
-- project like runs.
CREATE TABLE experiments (
    tenant_id  TEXT    NOT NULL,
    project_id TEXT    NOT NULL,
    id         INTEGER NOT NULL CHECK (id > 0),
    suite      TEXT    NOT NULL,
    arms       TEXT    NOT NULL,
    sequential INTEGER NOT NULL,
    alpha      REAL    NOT NULL,
    outcome    TEXT    NOT NULL,
    summary    TEXT    NOT NULL,
    analysis   TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, project_id, id)
) STRICT;

CREATE INDEX experiments_by_suite ON experiments (tenant_id, project_id, suite, id);
