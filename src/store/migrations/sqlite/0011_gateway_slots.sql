-- Slots of `max_parallel` are leases held by the replica that took them. SQLite serves one
-- replica and keeps its meters, slots included, in memory (`store::sqlite::meters`); only the
-- rates and spend in `gateway_meters` are written. `gateway_meters.in_flight`, a count no one
-- could take back from a replica that died, goes.
ALTER TABLE gateway_meters DROP COLUMN in_flight;
