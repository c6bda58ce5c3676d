-- The inference gateway: provider connections (API keys sealed by the server's master key, never
-- in clear), the limits of gateway keys (API tokens allowed to call /v1), gateway settings of a
-- project or a tenant ('' as project), meters (rate, in-flight and budget state per scope) and
-- one trace per request. `gateway_revision` grows on every change of the first three, so that
-- every server notices what another one changed.
CREATE TABLE provider_connections (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    spec       TEXT NOT NULL,
    sealed_key TEXT,
    key_hint   TEXT,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, project_id, id)
);

CREATE TABLE gateway_keys (
    token_id   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    spec       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX gateway_keys_by_project ON gateway_keys (tenant_id, project_id);

CREATE TABLE gateway_settings (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL,
    spec       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, project_id)
);

CREATE TABLE gateway_meters (
    tenant_id      TEXT COLLATE "C" NOT NULL,
    key            TEXT COLLATE "C" NOT NULL,
    rpm_tat        BIGINT NOT NULL DEFAULT 0,
    tpm_tat        BIGINT NOT NULL DEFAULT 0,
    in_flight      BIGINT NOT NULL DEFAULT 0,
    day            BIGINT NOT NULL DEFAULT 0,
    day_spent      BIGINT NOT NULL DEFAULT 0,
    day_reserved   BIGINT NOT NULL DEFAULT 0,
    month          BIGINT NOT NULL DEFAULT 0,
    month_spent    BIGINT NOT NULL DEFAULT 0,
    month_reserved BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE gateway_traces (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      TEXT COLLATE "C" NOT NULL,
    project_id     TEXT COLLATE "C" NOT NULL,
    trace_id       TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    key_id         TEXT NOT NULL,
    prompt         TEXT,
    prompt_label   TEXT,
    prompt_version INTEGER,
    model          TEXT NOT NULL,
    fallback       TEXT,
    endpoint       TEXT NOT NULL,
    input_tokens   BIGINT NOT NULL,
    output_tokens  BIGINT NOT NULL,
    cost_micros    BIGINT NOT NULL,
    latency_ms     BIGINT NOT NULL,
    ttft_ms        BIGINT,
    attempts       INTEGER NOT NULL,
    cache          TEXT NOT NULL,
    status         TEXT NOT NULL,
    http_status    INTEGER NOT NULL,
    error          TEXT,
    variables      TEXT,
    output         TEXT
);

CREATE INDEX gateway_traces_by_project ON gateway_traces (tenant_id, project_id, id);

CREATE TABLE gateway_revision (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);

INSERT INTO gateway_revision (id, n) VALUES (1, 0);

-- One request's admission in one statement: the same rules as `store::gateway::meter::admit`.
-- Every scope's row is locked in one order (so concurrent admissions queue, never deadlock, and
-- each sees the one before it), checked, and only if all admit are they all charged. Returns no
-- row when admitted, else the scope, the limit and the wait in microseconds.
CREATE FUNCTION gateway_admit(
    p_tenant TEXT, p_keys TEXT[], p_rpm BIGINT[], p_tpm BIGINT[], p_parallel BIGINT[],
    p_daily BIGINT[], p_monthly BIGINT[], p_tokens BIGINT, p_estimate BIGINT, p_now BIGINT,
    p_day BIGINT, p_month BIGINT
) RETURNS TABLE (refused_scope TEXT, refused_limit TEXT, retry_us BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    minute CONSTANT BIGINT := 60000000;
    m gateway_meters%ROWTYPE;
    nxt BIGINT;
    base BIGINT;
BEGIN
    INSERT INTO gateway_meters (tenant_id, key, day, month)
    SELECT p_tenant, k, p_day, p_month FROM unnest(p_keys) AS k
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM gateway_meters WHERE tenant_id = p_tenant AND key = ANY (p_keys) ORDER BY key FOR UPDATE;
    UPDATE gateway_meters SET day = p_day, day_spent = 0, day_reserved = 0
    WHERE tenant_id = p_tenant AND key = ANY (p_keys) AND day <> p_day;
    UPDATE gateway_meters SET month = p_month, month_spent = 0, month_reserved = 0
    WHERE tenant_id = p_tenant AND key = ANY (p_keys) AND month <> p_month;
    FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        SELECT * INTO m FROM gateway_meters WHERE tenant_id = p_tenant AND key = p_keys[i];
        IF p_rpm[i] IS NOT NULL THEN
            nxt := GREATEST(m.rpm_tat, p_now) + minute / GREATEST(p_rpm[i], 1);
            IF nxt - p_now > minute THEN
                RETURN QUERY SELECT p_keys[i], 'rpm'::TEXT, nxt - p_now - minute;
                RETURN;
            END IF;
        END IF;
        IF p_tpm[i] IS NOT NULL THEN
            base := GREATEST(m.tpm_tat, p_now);
            nxt := base + p_tokens * minute / GREATEST(p_tpm[i], 1);
            IF nxt - p_now > minute AND base > p_now THEN
                RETURN QUERY SELECT p_keys[i], 'tpm'::TEXT, LEAST(nxt - p_now - minute, base - p_now);
                RETURN;
            END IF;
        END IF;
        IF p_parallel[i] IS NOT NULL AND m.in_flight >= p_parallel[i] THEN
            RETURN QUERY SELECT p_keys[i], 'parallel'::TEXT, 1000000::BIGINT;
            RETURN;
        END IF;
        IF p_daily[i] IS NOT NULL AND m.day_spent + m.day_reserved + p_estimate > p_daily[i] THEN
            RETURN QUERY SELECT p_keys[i], 'daily'::TEXT, (p_day + 1) * 86400000000 - p_now;
            RETURN;
        END IF;
        IF p_monthly[i] IS NOT NULL AND m.month_spent + m.month_reserved + p_estimate > p_monthly[i] THEN
            RETURN QUERY SELECT p_keys[i], 'monthly'::TEXT, NULL::BIGINT;
            RETURN;
        END IF;
    END LOOP;
    UPDATE gateway_meters g SET
        rpm_tat = CASE WHEN w.rpm IS NULL THEN g.rpm_tat ELSE GREATEST(g.rpm_tat, p_now) + minute / GREATEST(w.rpm, 1) END,
        tpm_tat = CASE WHEN w.tpm IS NULL THEN g.tpm_tat
                       ELSE GREATEST(g.tpm_tat, p_now) + p_tokens * minute / GREATEST(w.tpm, 1) END,
        in_flight = g.in_flight + 1,
        day_reserved = g.day_reserved + p_estimate,
        month_reserved = g.month_reserved + p_estimate
    FROM unnest(p_keys, p_rpm, p_tpm) AS w (key, rpm, tpm)
    WHERE g.tenant_id = p_tenant AND g.key = w.key;
END
$$;
