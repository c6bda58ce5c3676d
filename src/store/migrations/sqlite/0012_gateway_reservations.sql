-- Budget reservations are leased to the replica that made them, as slots are: one that dies
-- between admission and settlement gives them back when its lease ends instead of keeping them
-- until its day or month ends. SQLite keeps leases in memory (`store::sqlite::meters`), so the
-- reserved columns, never read back, go.
ALTER TABLE gateway_meters DROP COLUMN day_reserved;
ALTER TABLE gateway_meters DROP COLUMN month_reserved;
