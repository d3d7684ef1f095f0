import { hostname } from "node:os";
import { claimNextRun, retryRunLater } from "../db/queries/run-status.js";
import { findRun } from "../db/queries/runs.js";
import { markWorkerStopped, registerWorker } from "../db/queries/workers.js";
import { toAppError } from "../errors.js";
import type { Run } from "../glossary.js";
import { isTransientDatabaseError } from "../db/transient.js";
import { sequencerFor } from "../tenant-log/sequencer.js";
import { executeThroughFaults, handBack } from "./database-faults.js";
import { endWaitingRun } from "./end-waiting-run.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { reapExpiredLeases } from "./reaper.js";
import type { RunnerDeps } from "./runner.js";
import { Wakeup } from "./wakeup.js";

export interface WorkerOptions {
  id: string;
  concurrency: number;
  /** Aborted to stop: the worker finishes each held run's current step, hands the runs back, and returns. */
  signal: AbortSignal;
  /** Called as each run is claimed, before it executes (queue latency measurements, metrics). */
  onClaim?: (run: Run) => void;
  /** Called after each reaper round that found expired leases: how many runs it requeued and failed (metrics). */
  onReaped?: (requeued: number, failed: number) => void;
}

export interface WorkerSummary {
  /** Runs this worker executed to an end (terminal or parked), handed back, or gave up on. */
  finished: number;
  released: number;
  retried: number;
  lost: number;
}

/**
 * The worker: `concurrency` plain loops (slots), each claim → run → settle, waiting for a NOTIFY or the poll
 * interval when the queue is empty. Beside them, the lease keeper renews the held runs' leases and a reaper round
 * returns expired leases to the queue.
 */
export async function runWorker(deps: RunnerDeps, options: WorkerOptions): Promise<WorkerSummary> {
  const { db, config, log } = deps;
  const summary: WorkerSummary = { finished: 0, released: 0, retried: 0, lost: 0 };
  const wakeup = new Wakeup(config.workerPollMs, log);
  const leases = new LeaseKeeper(db, options.id, config.leaseMs, log);
  const stopping = () => options.signal.aborted;
  // Beside the slots, this worker's tenant-log sequencer: kicked by each run it ends, sweeping for the rest.
  const sequencer = sequencerFor(db, config, deps.keys, log);
  const runner: RunnerDeps = { ...deps, stop: options.signal, onRunEnded: (tenantId) => sequencer.kick(tenantId) };
  options.signal.addEventListener("abort", () => wakeup.poke(), { once: true });

  await registerWorker(db.pool, { id: options.id, pid: process.pid, host: hostname(), concurrency: options.concurrency });
  if (config.workerListen) wakeup.listen(config.databaseUrl);
  leases.start();
  sequencer.start();
  // At start, then every second (every quarter lease when that is shorter): a run whose lease expired is back in the
  // queue within a second, so its agent slot counts for no longer than its lease (one reaper works at a time).
  void reap(runner, options);
  const reaper = setInterval(() => void reap(runner, options), Math.max(100, Math.min(1000, Math.floor(config.leaseMs / 4))));
  reaper.unref();
  log.info("worker started", { worker_id: options.id, concurrency: options.concurrency });

  const execute = async (run: Run): Promise<void> => {
    const signal = leases.hold(run);
    try {
      const end = await executeThroughFaults(runner, run, signal);
      if (end.status === "released") summary.released += 1;
      else summary.finished += 1;
    } catch (error) {
      const failure = toAppError(error);
      if (failure.code === "LEASE_LOST" || isTransientDatabaseError(failure)) {
        // Lost, or given up on through a database fault: nothing more is recorded. If nobody took the run meanwhile
        // (the lease was given up while the database was away), it goes back to the queue now, not a lease later.
        const handedBack = await handBack(runner, run);
        summary.lost += 1;
        log.warn("dropped a run this worker could not go on with; it records nothing more", {
          run_id: run.id,
          error: failure.message,
          handed_back: handedBack,
        });
      } else {
        summary.retried += 1;
        await settleFailure(runner, run, failure.message);
      }
    } finally {
      leases.release(run.id);
    }
  };

  // Each slot claims for itself, so claims go on in parallel (SKIP LOCKED keeps them apart). They share the
  // rotation over tenants: each claim starts after the tenant served last.
  let lastTenant: string | null = null;
  const slot = async (): Promise<void> => {
    while (!stopping()) {
      let claim;
      try {
        claim = await claimNextRun(db.pool, options.id, config.leaseMs, lastTenant);
      } catch (error) {
        log.warn("cannot claim; retrying after the poll interval", { error: toAppError(error).message });
        await wakeup.wait();
        continue;
      }
      if (claim.kind === "claimed") {
        lastTenant = claim.run.tenantId;
        options.onClaim?.(claim.run);
        await execute(claim.run);
      } else if (claim.kind === "empty") {
        await wakeup.wait();
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, slot));

  clearInterval(reaper);
  leases.stop();
  await sequencer.close();
  await wakeup.close();
  await markWorkerStopped(db.pool, options.id).catch(() => {});
  log.info("worker stopped", { worker_id: options.id, ...summary });
  return summary;
}

async function reap(deps: RunnerDeps, options: WorkerOptions): Promise<void> {
  try {
    const reaped = await reapExpiredLeases(deps, `reaper-${options.id}`);
    if (reaped.requeued.length > 0 || reaped.failed.length > 0) options.onReaped?.(reaped.requeued.length, reaped.failed.length);
  } catch (error) {
    deps.log.warn("reaper round failed", { error: toAppError(error).message });
  }
}

/**
 * A run that failed for a reason outside its steps (the database went away, a bug) is retried later with
 * backoff min(base · 2^(attempts-1), max) seconds, or ended as failed once it used its last attempt. When even
 * that cannot be written, its lease runs out and the reaper returns it to the queue.
 */
async function settleFailure(deps: RunnerDeps, claimed: Run, reason: string): Promise<void> {
  const { config, log } = deps;
  try {
    if (claimed.attempts >= config.runMaxAttempts) {
      const run = await findRun(deps.db.pool, claimed.tenantId, claimed.id);
      if (run === undefined || run.epoch !== claimed.epoch || run.status !== "running") return;
      const message = `Run failed on attempt ${claimed.attempts} of ${config.runMaxAttempts} (RUN_MAX_ATTEMPTS): ${reason}`;
      await endWaitingRun(deps.db.pool, deps.keys, run, { status: "failed", errorMessage: message, terminationReason: "system_failure" });
      return;
    }
    const delay = Math.min(config.runRetryBaseSeconds * 2 ** Math.max(0, claimed.attempts - 1), config.runRetryMaxSeconds);
    await retryRunLater(deps.db.pool, claimed.id, claimed.epoch, delay, `attempt ${claimed.attempts} failed: ${reason}`.slice(0, 500));
    log.warn("run failed outside its steps; retrying later", { run_id: claimed.id, attempt: claimed.attempts, delay_s: delay, error: reason });
  } catch (error) {
    log.warn("cannot settle a failed run; its lease will expire and the reaper requeue it", {
      run_id: claimed.id,
      error: toAppError(error).message,
    });
  }
}
