-- A server-side run that a worker stopped because every later call would fail the same way
-- (a refused key, a spent budget): why, as JSON {message, hints}, for whoever follows the run.
ALTER TABLE run_specs ADD COLUMN stopped TEXT;
