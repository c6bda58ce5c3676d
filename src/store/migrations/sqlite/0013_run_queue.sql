-- Server-side runs (issue 19): a run submitted to the server keeps the spec it was planned from,
-- once per idempotency key, and its units wait in `run_units` until a worker claims one under a
-- lease. A unit's row is deleted when its result is written (fenced by the lease token), so a
-- finished run holds no unit rows. `seq` numbers a run's results in the order they were written,
-- so progress streams resume after the last result a client saw.
CREATE TABLE run_specs (
    tenant_id           TEXT    NOT NULL,
    project_id          TEXT    NOT NULL,
    run_id              INTEGER NOT NULL,
    spec                TEXT    NOT NULL,
    idempotency_key     TEXT,
    cancel_requested_at TEXT,
    PRIMARY KEY (tenant_id, project_id, run_id),
    FOREIGN KEY (tenant_id, project_id, run_id) REFERENCES eval_runs (tenant_id, project_id, id)
) STRICT;

CREATE UNIQUE INDEX run_specs_by_key ON run_specs (tenant_id, project_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE run_units (
    tenant_id        TEXT    NOT NULL,
    project_id       TEXT    NOT NULL,
    run_id           INTEGER NOT NULL,
    unit             INTEGER NOT NULL,
    target_index     INTEGER NOT NULL,
    provider_index   INTEGER NOT NULL,
    case_index       INTEGER NOT NULL,
    repeat_index     INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('available', 'running')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    scheduled_ms     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_ms INTEGER,
    PRIMARY KEY (tenant_id, project_id, run_id, unit)
) STRICT;

CREATE INDEX run_units_available ON run_units (scheduled_ms, tenant_id, project_id, run_id, unit)
    WHERE state = 'available';
CREATE INDEX run_units_running ON run_units (lease_owner) WHERE state = 'running';

ALTER TABLE eval_results ADD COLUMN seq INTEGER;
CREATE INDEX eval_results_by_seq ON eval_results (tenant_id, project_id, run_id, seq) WHERE seq IS NOT NULL;
