-- How long a result took from the call to the last assertion (issue 18): a case whose script
-- assertion timed out spent its time grading, not in the call, and JUnit's `time` must say so.
-- Results stored before this migration read as 0.
ALTER TABLE eval_results ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0;
