-- Workflow threads, their committed steps and the per-task writes of each step. Same shape as
-- SQLite's 0004: payloads are JSON text owned by `workflow::checkpoint`.
CREATE TABLE workflow_threads (
    tenant_id     TEXT        NOT NULL,
    project_id    TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    workflow      TEXT        NOT NULL,
    workflow_hash TEXT        NOT NULL,
    status        TEXT        NOT NULL,
    step          INTEGER     NOT NULL,
    input         TEXT        NOT NULL,
    parent_id     TEXT,
    parent_step   INTEGER,
    detail        TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, project_id, id)
);

CREATE INDEX workflow_threads_by_workflow ON workflow_threads (tenant_id, project_id, workflow, created_at);

CREATE TABLE workflow_checkpoints (
    tenant_id  TEXT        NOT NULL,
    project_id TEXT        NOT NULL,
    thread_id  TEXT        NOT NULL,
    step       INTEGER     NOT NULL,
    payload    TEXT        NOT NULL,
    snapshot   TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, project_id, thread_id, step)
);

CREATE TABLE workflow_tasks (
    tenant_id  TEXT    NOT NULL,
    project_id TEXT    NOT NULL,
    thread_id  TEXT    NOT NULL,
    step       INTEGER NOT NULL,
    task       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, project_id, thread_id, step, task)
);
