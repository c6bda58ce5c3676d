-- Shares: a replica leases rate and budget in chunks and admits from them in memory
-- (`store::gateway::share`), instead of one locked round trip per request. A budget share is
-- reserved on the holder's lease row in `gateway_slots`, as a single call's reservation was, so
-- every admission (shared or not) counts it, and a dead replica's share comes back when its lease
-- ends. Rates are taken from the meter's GCRA; they need no row.
--
-- One lease in one statement, all or nothing: every scope's meter row is locked in key order (as
-- `gateway_admit` does), and each scope must grant at least its `need`s, or nothing is taken and
-- the first refusal is answered as `gateway_admit` answers it (scope, limit, wait in µs). Else each
-- scope grants up to its `want`s: rates up to what the minute's bucket holds, budgets up to an
-- eighth of what remains under the limit (never less than the need), so that replicas leasing at
-- once cannot take it all and the last calls before a limit reserve one estimate each. Returns
-- one row per scope: its key and what it granted.
CREATE FUNCTION gateway_lease(
    p_tenant TEXT, p_keys TEXT[], p_rpm BIGINT[], p_tpm BIGINT[], p_daily BIGINT[], p_monthly BIGINT[],
    p_need_req BIGINT[], p_want_req BIGINT[], p_need_tok BIGINT[], p_want_tok BIGINT[],
    p_need_day BIGINT[], p_want_day BIGINT[], p_need_month BIGINT[], p_want_month BIGINT[],
    p_now BIGINT, p_day BIGINT, p_month BIGINT, p_holder TEXT, p_lease BIGINT
) RETURNS TABLE (scope_key TEXT, requests BIGINT, tokens BIGINT, day_amount BIGINT, month_amount BIGINT,
    refused_limit TEXT, retry_us BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    minute CONSTANT BIGINT := 60000000;
    n INT := coalesce(array_length(p_keys, 1), 0);
    m gateway_meters%ROWTYPE;
    g_req BIGINT[] := array_fill(0::BIGINT, ARRAY[n]);
    g_tok BIGINT[] := array_fill(0::BIGINT, ARRAY[n]);
    g_day BIGINT[] := array_fill(0::BIGINT, ARRAY[n]);
    g_month BIGINT[] := array_fill(0::BIGINT, ARRAY[n]);
    step BIGINT;
    base BIGINT;
    room BIGINT;
    held_day BIGINT;
    held_month BIGINT;
BEGIN
    -- As for `gateway_admit` (0011): a database crash may forget the last leases, never spend.
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO gateway_meters (tenant_id, key, day, month)
    SELECT p_tenant, k, p_day, p_month FROM unnest(p_keys) AS k
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM gateway_meters WHERE tenant_id = p_tenant AND key = ANY (p_keys) ORDER BY key FOR UPDATE;
    UPDATE gateway_meters SET day = p_day, day_spent = 0
    WHERE tenant_id = p_tenant AND key = ANY (p_keys) AND day <> p_day;
    UPDATE gateway_meters SET month = p_month, month_spent = 0
    WHERE tenant_id = p_tenant AND key = ANY (p_keys) AND month <> p_month;
    FOR i IN 1 .. n LOOP
        SELECT * INTO m FROM gateway_meters WHERE tenant_id = p_tenant AND key = p_keys[i];
        IF p_rpm[i] IS NOT NULL AND p_need_req[i] + p_want_req[i] > 0 THEN
            step := minute / GREATEST(p_rpm[i], 1);
            base := GREATEST(m.rpm_tat, p_now);
            room := GREATEST((p_now + minute - base) / GREATEST(step, 1), 0);
            IF room < p_need_req[i] THEN
                RETURN QUERY SELECT p_keys[i], 0::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT, 'rpm'::TEXT,
                    base + step * p_need_req[i] - p_now - minute;
                RETURN;
            END IF;
            g_req[i] := GREATEST(p_need_req[i], LEAST(p_want_req[i], room));
        END IF;
        IF p_tpm[i] IS NOT NULL AND p_need_tok[i] + p_want_tok[i] > 0 THEN
            base := GREATEST(m.tpm_tat, p_now);
            room := LEAST(GREATEST((p_now + minute - base)::NUMERIC * GREATEST(p_tpm[i], 1) / minute, 0),
                4000000000000000000)::BIGINT;
            -- A request larger than a whole minute passes once the bucket is full, never sooner.
            IF room < p_need_tok[i] AND base > p_now THEN
                RETURN QUERY SELECT p_keys[i], 0::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT, 'tpm'::TEXT,
                    LEAST(base + p_need_tok[i] * minute / GREATEST(p_tpm[i], 1) - p_now - minute, base - p_now);
                RETURN;
            END IF;
            g_tok[i] := GREATEST(p_need_tok[i], LEAST(p_want_tok[i], room));
        END IF;
        IF p_need_day[i] + p_want_day[i] + p_need_month[i] + p_want_month[i] > 0 THEN
            SELECT COALESCE(SUM(s.day_reserved) FILTER (WHERE s.day = p_day), 0),
                   COALESCE(SUM(s.month_reserved) FILTER (WHERE s.month = p_month), 0)
            INTO held_day, held_month FROM gateway_slots s
            WHERE s.tenant_id = p_tenant AND s.key = p_keys[i] AND s.expires_at > p_now;
            IF p_daily[i] IS NOT NULL THEN
                room := p_daily[i] - m.day_spent - held_day;
                IF p_need_day[i] > room THEN
                    RETURN QUERY SELECT p_keys[i], 0::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT, 'daily'::TEXT,
                        (p_day + 1) * 86400000000 - p_now;
                    RETURN;
                END IF;
                g_day[i] := GREATEST(p_need_day[i], LEAST(p_want_day[i], room / 8));
            END IF;
            IF p_monthly[i] IS NOT NULL THEN
                room := p_monthly[i] - m.month_spent - held_month;
                IF p_need_month[i] > room THEN
                    RETURN QUERY SELECT p_keys[i], 0::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT, 'monthly'::TEXT,
                        NULL::BIGINT;
                    RETURN;
                END IF;
                g_month[i] := GREATEST(p_need_month[i], LEAST(p_want_month[i], room / 8));
            END IF;
        END IF;
    END LOOP;
    UPDATE gateway_meters g SET
        rpm_tat = CASE WHEN w.req = 0 THEN g.rpm_tat ELSE GREATEST(g.rpm_tat, p_now) + w.req * (minute / GREATEST(w.rpm, 1)) END,
        tpm_tat = CASE WHEN w.tok = 0 THEN g.tpm_tat ELSE GREATEST(g.tpm_tat, p_now) + w.tok * minute / GREATEST(w.tpm, 1) END
    FROM unnest(p_keys, p_rpm, p_tpm, g_req, g_tok) AS w (key, rpm, tpm, req, tok)
    WHERE g.tenant_id = p_tenant AND g.key = w.key AND (w.req > 0 OR w.tok > 0);
    -- A lease of this holder that ran out counted nothing any more: it starts again from zero, as
    -- the replica's book does; so does a reservation of a day or month that has ended.
    INSERT INTO gateway_slots AS s (tenant_id, key, holder, in_flight, expires_at, day, day_reserved, month,
        month_reserved)
    SELECT p_tenant, w.key, p_holder, 0, p_now + p_lease, p_day, w.d, p_month, w.mo
    FROM unnest(p_keys, g_day, g_month) AS w (key, d, mo)
    WHERE w.d > 0 OR w.mo > 0
    -- In key order, as admissions, settlements and renewals take these rows.
    ORDER BY w.key
    ON CONFLICT (tenant_id, key, holder) DO UPDATE SET
        in_flight = CASE WHEN s.expires_at > p_now THEN s.in_flight ELSE 0 END,
        day_reserved = CASE WHEN s.expires_at > p_now AND s.day = p_day THEN s.day_reserved ELSE 0 END
            + excluded.day_reserved,
        day = p_day,
        month_reserved = CASE WHEN s.expires_at > p_now AND s.month = p_month THEN s.month_reserved ELSE 0 END
            + excluded.month_reserved,
        month = p_month,
        expires_at = GREATEST(s.expires_at, p_now + p_lease);
    RETURN QUERY SELECT w.key, w.req, w.tok, w.d, w.mo, NULL::TEXT, NULL::BIGINT
    FROM unnest(p_keys, g_req, g_tok, g_day, g_month) AS w (key, req, tok, d, mo);
END
$$;
