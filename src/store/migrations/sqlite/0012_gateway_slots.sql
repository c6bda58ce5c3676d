-- Slots of `max_parallel` become leases: each replica (holder) counts the calls it has in flight
-- per scope in a row that expires unless the replica renews it, so the slots of a replica that
-- died come back when its lease ends. `gateway_meters.in_flight`, a count no one could take back
-- from a dead replica, goes.
CREATE TABLE gateway_slots (
    tenant_id  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    holder     TEXT    NOT NULL,
    in_flight  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, -- µs since the epoch
    PRIMARY KEY (tenant_id, key, holder)
) STRICT;

CREATE INDEX gateway_slots_by_holder ON gateway_slots (holder);

ALTER TABLE gateway_meters DROP COLUMN in_flight;
