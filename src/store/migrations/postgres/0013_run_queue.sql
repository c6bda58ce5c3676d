-- Server-side runs (issue 19): a run submitted to the server keeps the spec it was planned from,
-- once per idempotency key, and its units wait in `run_units` until a worker of any replica
-- claims one (FOR UPDATE SKIP LOCKED) under a lease with a per-attempt token. A unit's row is
-- deleted when its result is written, in the same transaction and only while the token still
-- holds, so a replica presumed dead cannot write a stale result and a finished run holds no unit
-- rows. `seq` numbers a run's results in commit order (assigned under the run row's lock), so
-- progress streams resume after the last result a client saw with no gap.
CREATE TABLE run_specs (
    tenant_id           TEXT COLLATE "C" NOT NULL,
    project_id          TEXT COLLATE "C" NOT NULL,
    run_id              BIGINT           NOT NULL,
    spec                TEXT             NOT NULL,
    idempotency_key     TEXT,
    cancel_requested_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, project_id, run_id),
    FOREIGN KEY (tenant_id, project_id, run_id) REFERENCES eval_runs (tenant_id, project_id, id)
);

CREATE UNIQUE INDEX run_specs_by_key ON run_specs (tenant_id, project_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE run_units (
    tenant_id        TEXT COLLATE "C" NOT NULL,
    project_id       TEXT COLLATE "C" NOT NULL,
    run_id           BIGINT           NOT NULL,
    unit             BIGINT           NOT NULL,
    target_index     INTEGER          NOT NULL,
    provider_index   INTEGER          NOT NULL,
    case_index       INTEGER          NOT NULL,
    repeat_index     INTEGER          NOT NULL,
    state            TEXT             NOT NULL CHECK (state IN ('available', 'running')),
    attempt          INTEGER          NOT NULL DEFAULT 0,
    scheduled_at     TIMESTAMPTZ      NOT NULL DEFAULT now(),
    lease_owner      TEXT,
    lease_token      UUID,
    lease_expires_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, project_id, run_id, unit)
) WITH (autovacuum_vacuum_scale_factor = 0.01);

CREATE INDEX run_units_available ON run_units (scheduled_at, tenant_id, project_id, run_id, unit)
    WHERE state = 'available';
CREATE INDEX run_units_running ON run_units (lease_owner) WHERE state = 'running';

ALTER TABLE eval_results ADD COLUMN seq BIGINT;
CREATE INDEX eval_results_by_seq ON eval_results (tenant_id, project_id, run_id, seq) WHERE seq IS NOT NULL;
