-- Prompt versions (immutable), labels (movable pointers) and the history of label moves.
-- Every row carries the tenant and project it belongs to.
CREATE TABLE prompt_versions (
    tenant_id  TEXT    NOT NULL,
    project_id TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    number     INTEGER NOT NULL CHECK (number > 0),
    hash       TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    partials   TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, project_id, name, number)
) STRICT;

CREATE INDEX prompt_versions_by_hash ON prompt_versions (tenant_id, project_id, name, hash);

CREATE TABLE labels (
    tenant_id  TEXT    NOT NULL,
    project_id TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_by TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, project_id, name, label),
    FOREIGN KEY (tenant_id, project_id, name, version)
        REFERENCES prompt_versions (tenant_id, project_id, name, number)
) STRICT;

CREATE TABLE label_moves (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT    NOT NULL,
    project_id   TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    from_version INTEGER,
    to_version   INTEGER,
    reason       TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    at           TEXT    NOT NULL
) STRICT;

CREATE INDEX label_moves_by_prompt ON label_moves (tenant_id, project_id, name, id);
