import { abortableDelay } from "../abortable.js";
import { releaseRun } from "../db/queries/run-status.js";
import { findRun } from "../db/queries/runs.js";
import { transientDatabaseCondition, transientRetryDelayMs } from "../db/transient.js";
import { AppError, toAppError } from "../errors.js";
import { isTerminal, type Run, type RunEnding } from "../glossary.js";
import { executeClaimedRun, type Parked, type Released, type RunnerDeps } from "./runner.js";

/**
 * Executes a claimed run, riding out transient database faults (src/db/transient.ts: a restart, a terminated
 * backend, no free connection slot, a lost connection, a serialization failure). Such a fault says nothing about the
 * run, so it neither counts an attempt nor sends the run into the run-level backoff: the worker keeps its claim,
 * waits a short jittered delay (100 ms doubling to 2 s) and goes on from what the database holds, re-reading the
 * run row and re-verifying the stored prefix exactly as on any resume. A step whose record may or may not have
 * committed is thus found recorded, or, if its intent row is the last one, recorded interrupted and sent again
 * (at-least-once, docs/workers.md). A write that committed before the connection dropped is found too: a run
 * found settled at this worker's epoch was settled by it.
 *
 * Bounded: the faults may last at most one lease in all. By then the lease keeper has given the run up too (it
 * cannot renew a lease through a database that is gone), and the run goes back to the queue without its attempt.
 */
export async function executeThroughFaults(deps: RunnerDeps, claimed: Run, signal: AbortSignal): Promise<RunEnding | Parked | Released> {
  let firstFaultAt: number | undefined;
  for (let faults = 0; ; ) {
    try {
      const now = faults === 0 ? { held: claimed } : await stillHeld(deps, claimed);
      if ("settled" in now) return now.settled;
      return await executeClaimedRun(deps, now.held, { signal });
    } catch (error) {
      const condition = transientDatabaseCondition(error);
      if (condition === undefined || signal.aborted || deps.stop?.aborted === true) throw error;
      faults += 1;
      firstFaultAt ??= Date.now();
      if (Date.now() - firstFaultAt >= deps.config.leaseMs) {
        throw new AppError("DATABASE_UNAVAILABLE", `run ${claimed.id}: the database did not come back within a lease: ${condition}`, { cause: error });
      }
      const delayMs = transientRetryDelayMs(faults);
      deps.log.warn("database fault during a run; going on from the stored trace shortly", { run_id: claimed.id, condition, delay_ms: delayMs });
      await abortableDelay(delayMs, signal);
    }
  }
}

/**
 * The run as the database holds it now, if this worker still holds it (running at its claim's epoch); how it
 * ended, if this worker's own write settled it before the fault hid the answer; LEASE_LOST otherwise.
 */
async function stillHeld(deps: RunnerDeps, claimed: Run): Promise<{ held: Run } | { settled: RunEnding | Parked | Released }> {
  const run = await findRun(deps.db.pool, claimed.tenantId, claimed.id);
  if (run !== undefined && run.epoch === claimed.epoch) {
    if (run.status === "running") return { held: run };
    if (run.status === "pending_approval") return { settled: { status: "pending_approval" } };
    if (run.status === "queued") return { settled: { status: "released" } };
    if (isTerminal(run.status) && run.terminationReason !== null) {
      return { settled: { status: run.status, errorMessage: run.errorMessage, terminationReason: run.terminationReason } as RunEnding };
    }
  }
  throw new AppError("LEASE_LOST", `run ${claimed.id} is no longer held at epoch ${claimed.epoch}; another worker or the reaper took it during a database fault`);
}

/**
 * Hands a run this worker could not go on with back to the queue at once, without its attempt, instead of leaving
 * its agent slot taken until the lease expires. Fenced by the epoch: a run someone else took meanwhile is left
 * alone. Best effort: if the database is still away, the lease runs out and the reaper requeues the run.
 */
export async function handBack(deps: RunnerDeps, run: Run): Promise<boolean> {
  try {
    return await releaseRun(deps.db.pool, run.id, run.epoch);
  } catch (error) {
    deps.log.warn("cannot hand a run back; its lease will expire and the reaper requeue it", { run_id: run.id, error: toAppError(error).message });
    return false;
  }
}
