-- Prompt versions (immutable), labels (movable pointers) and the history of label moves.
-- Every row carries the tenant and project it belongs to. Same shape as SQLite's 0001; text
-- keys use the "C" collation so that listings sort by bytes, as they do in SQLite.
CREATE TABLE prompt_versions (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    number     INTEGER          NOT NULL CHECK (number > 0),
    hash       TEXT COLLATE "C" NOT NULL,
    source     TEXT             NOT NULL,
    partials   TEXT             NOT NULL,
    author     TEXT             NOT NULL,
    message    TEXT             NOT NULL,
    created_at TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (tenant_id, project_id, name, number)
);

CREATE INDEX prompt_versions_by_hash ON prompt_versions (tenant_id, project_id, name, hash);

CREATE TABLE labels (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    label      TEXT COLLATE "C" NOT NULL,
    version    INTEGER          NOT NULL,
    updated_by TEXT             NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (tenant_id, project_id, name, label),
    FOREIGN KEY (tenant_id, project_id, name, version)
        REFERENCES prompt_versions (tenant_id, project_id, name, number)
);

CREATE TABLE label_moves (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    TEXT COLLATE "C" NOT NULL,
    project_id   TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    label        TEXT COLLATE "C" NOT NULL,
    from_version INTEGER,
    to_version   INTEGER,
    reason       TEXT             NOT NULL,
    actor        TEXT             NOT NULL,
    at           TIMESTAMPTZ      NOT NULL
);

CREATE INDEX label_moves_by_prompt ON label_moves (tenant_id, project_id, name, id);
