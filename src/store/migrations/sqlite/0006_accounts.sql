-- Accounts of the server: tenants own projects and principals; members give principals a role
-- per project; API tokens and key pairs are stored as SHA-256 hashes only; the audit log
-- records every write with who, what, when and from where.
CREATE TABLE tenants (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE projects (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE principals (
    tenant_id    TEXT    NOT NULL REFERENCES tenants (id),
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    tenant_admin INTEGER NOT NULL,
    super_admin  INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;

CREATE TABLE members (
    tenant_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    principal  TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, project_id, principal),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id),
    FOREIGN KEY (tenant_id, principal) REFERENCES principals (tenant_id, name)
) STRICT;

CREATE TABLE api_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    principal  TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    FOREIGN KEY (tenant_id, principal) REFERENCES principals (tenant_id, name)
) STRICT;

CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, principal);

CREATE TABLE key_pairs (
    public_key  TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
) STRICT;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT    NOT NULL,
    project_id  TEXT,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    client_addr TEXT    NOT NULL,
    at          TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
