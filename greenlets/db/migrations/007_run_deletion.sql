-- Retention: a finished run can be deleted (DELETE /runs/<id>, or GREENROW_RETAIN_FINISHED_RUNS_S).
-- The request only marks it `deleting` (durable: whichever node's run deleter sees the mark removes its
-- messages and rows in small batches, then the run; a node dying mid-delete leaves the mark for the
-- next round). A run is `deleting` from the mark until its record is gone.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'done', 'stopped', 'deleting'));

-- Retention's search for finished runs past their age.
CREATE INDEX runs_finished ON runs (finished_at) WHERE status IN ('done', 'stopped');
