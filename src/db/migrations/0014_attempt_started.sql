-- 0014: live progress. The attempt a run's holder is executing in process now (a skill that does not leave the
-- process, so it writes no intent row): which step, which attempt, the decision it runs under and when it started.
-- Read by the events stream (GET /runs/{id}/events, `aos run`, `aos get-run --watch`) to tell a step has started;
-- progress only, not a fact of the run: it is not proven, and a later attempt overwrites it.
alter table runs add column attempt_started jsonb;
