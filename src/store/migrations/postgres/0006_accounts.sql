-- Accounts of the server: tenants own projects and principals; members give principals a role
-- per project; API tokens and key pairs are stored as SHA-256 hashes only; the audit log
-- records every write with who, what, when and from where.
CREATE TABLE tenants (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE projects (
    tenant_id  TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id         TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE principals (
    tenant_id    TEXT COLLATE "C"    NOT NULL REFERENCES tenants (id),
    name         TEXT COLLATE "C"    NOT NULL,
    kind         TEXT COLLATE "C"    NOT NULL,
    tenant_admin BOOLEAN NOT NULL,
    super_admin  BOOLEAN NOT NULL,
    created_at   TIMESTAMPTZ    NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE members (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    principal  TEXT COLLATE "C" NOT NULL,
    role       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, project_id, principal),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id),
    FOREIGN KEY (tenant_id, principal) REFERENCES principals (tenant_id, name)
);

CREATE TABLE api_tokens (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    principal  TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    hash       TEXT COLLATE "C" NOT NULL UNIQUE,
    scopes     TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, principal) REFERENCES principals (tenant_id, name)
);

CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, principal);

CREATE TABLE key_pairs (
    public_key  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    project_id  TEXT COLLATE "C" NOT NULL,
    secret_hash TEXT COLLATE "C" NOT NULL,
    role        TEXT COLLATE "C" NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
);

CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT COLLATE "C"    NOT NULL,
    project_id  TEXT,
    actor       TEXT COLLATE "C"    NOT NULL,
    action      TEXT COLLATE "C"    NOT NULL,
    target      TEXT COLLATE "C"    NOT NULL,
    status      INTEGER NOT NULL,
    client_addr TEXT COLLATE "C"    NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
