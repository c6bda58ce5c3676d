-- Slots of `max_parallel` become leases: each replica (holder) counts the calls it has in flight
-- per scope in a row that expires unless the replica renews it, so the slots of a replica that
-- died come back when its lease ends. `gateway_meters.in_flight`, a count no one could take back
-- from a dead replica, goes, and `gateway_admit` counts live leases instead.
CREATE TABLE gateway_slots (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    holder     TEXT COLLATE "C" NOT NULL,
    in_flight  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, -- µs since the epoch
    PRIMARY KEY (tenant_id, key, holder)
);

CREATE INDEX gateway_slots_by_holder ON gateway_slots (holder);

DROP FUNCTION gateway_admit(TEXT, TEXT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[], BIGINT, BIGINT, BIGINT,
    BIGINT, BIGINT);

ALTER TABLE gateway_meters DROP COLUMN in_flight;

-- One request's admission in one statement: the same rules as `store::gateway::meter::admit`.
-- Every scope's row is locked in one order (so concurrent admissions queue, never deadlock, and
-- each sees the one before it), checked, and only if all admit are they all charged; a scope
-- with `max_parallel` counts the unexpired slots of every holder and gives `p_holder` one more,
-- leased until `p_now + p_lease`. Returns no row when admitted, else the scope, the limit and
-- the wait in microseconds.
CREATE FUNCTION gateway_admit(
    p_tenant TEXT, p_keys TEXT[], p_rpm BIGINT[], p_tpm BIGINT[], p_parallel BIGINT[],
    p_daily BIGINT[], p_monthly BIGINT[], p_tokens BIGINT, p_estimate BIGINT, p_now BIGINT,
    p_day BIGINT, p_month BIGINT, p_holder TEXT, p_lease BIGINT
) RETURNS TABLE (refused_scope TEXT, refused_limit TEXT, retry_us BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    minute CONSTANT BIGINT := 60000000;
    m gateway_meters%ROWTYPE;
    nxt BIGINT;
    base BIGINT;
    live BIGINT;
BEGIN
    -- The admission's commit does not wait for the disk: with every request admitted on one row,
    -- waiting there for each commit's WAL flush serialised them behind the disk (measured: 186
    -- requests/s at 32 connections, admission p50 5 ms on a loaded disk). A database crash may
    -- forget the last admissions (under a second of rate use and reservations of calls then in
    -- flight); settlements, which record spend, still wait for the disk. Local: this transaction only.
    PERFORM set_config('synchronous_commit', 'off', true);
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
        IF p_parallel[i] IS NOT NULL THEN
            SELECT COALESCE(SUM(s.in_flight), 0) INTO live FROM gateway_slots s
            WHERE s.tenant_id = p_tenant AND s.key = p_keys[i] AND s.expires_at > p_now;
            IF live >= p_parallel[i] THEN
                RETURN QUERY SELECT p_keys[i], 'parallel'::TEXT, 1000000::BIGINT;
                RETURN;
            END IF;
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
        day_reserved = g.day_reserved + p_estimate,
        month_reserved = g.month_reserved + p_estimate
    FROM unnest(p_keys, p_rpm, p_tpm) AS w (key, rpm, tpm)
    WHERE g.tenant_id = p_tenant AND g.key = w.key;
    -- A lease of this holder that ran out counted nothing any more: it starts again from zero.
    INSERT INTO gateway_slots AS s (tenant_id, key, holder, in_flight, expires_at)
    SELECT p_tenant, w.key, p_holder, 1, p_now + p_lease
    FROM unnest(p_keys, p_parallel) AS w (key, parallel) WHERE w.parallel IS NOT NULL
    ON CONFLICT (tenant_id, key, holder) DO UPDATE SET
        in_flight = CASE WHEN s.expires_at > p_now THEN s.in_flight ELSE 0 END + 1,
        expires_at = GREATEST(s.expires_at, p_now + p_lease);
END
$$;
