-- The process that runs an eval run (host, boot, pid, start time), so that a run left `running`
-- by a process that died is shown as interrupted, and only one process resumes it.
ALTER TABLE eval_runs ADD COLUMN owner TEXT;
