import type { Database } from "../db/database.js";
import { extendLeases } from "../db/queries/run-queue.js";
import { touchWorker } from "../db/queries/workers.js";
import { AppError, toAppError } from "../errors.js";
import type { Logger } from "../logger.js";

interface Held {
  id: string;
  epoch: number;
  controller: AbortController;
  /** When this worker last confirmed the lease; past it plus the lease length, the run must be presumed lost. */
  confirmedAt: number;
}

/**
 * Keeps the leases of the runs a worker holds: every third of the lease it extends them all in one statement.
 * A run the statement reports `gone` was taken from this worker (reaped, or claimed by another; one this worker
 * settled itself while the statement ran is `settled`, and not lost: issue 13, point 9); so is one
 * whose lease could not be renewed for a whole lease length (the database was unreachable). Either way its hold
 * is aborted, which stops its skill at once, and the runner records nothing more for it: in the second case nobody
 * may have claimed it yet, so the epoch fence alone would still let the abort through as the step's outcome.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database,
    private readonly workerId: string,
    private readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  hold(run: { id: string; epoch: number }): AbortSignal {
    const controller = new AbortController();
    this.held.set(run.id, { id: run.id, epoch: run.epoch, controller, confirmedAt: Date.now() });
    return controller.signal;
  }

  release(runId: string): void {
    this.held.delete(runId);
  }

  get size(): number {
    return this.held.size;
  }

  /** One renewal round; the timer runs one every third of the lease. */
  async renew(): Promise<void> {
    const runs = [...this.held.values()];
    try {
      await touchWorker(this.db.pool, this.workerId);
      const states = await extendLeases(this.db.pool, runs, this.leaseMs);
      const now = Date.now();
      for (const run of runs) {
        const state = states.get(run.id);
        if (state === "kept") run.confirmedAt = now;
        // A run this worker has just ended, parked or handed back is released by its slot in a moment: not lost.
        else if (state === "gone" && this.held.get(run.id) === run) this.lose(run, "another worker holds it now, or the reaper requeued it");
      }
    } catch (error) {
      this.log.warn("cannot renew leases", { error: toAppError(error).message });
      const now = Date.now();
      for (const run of runs) {
        if (now - run.confirmedAt >= this.leaseMs) this.lose(run, "its lease could not be renewed in time");
      }
    }
  }

  private lose(run: Held, why: string): void {
    this.held.delete(run.id);
    this.log.warn("lost the lease on a run", { run_id: run.id, epoch: run.epoch, reason: why });
    run.controller.abort(new AppError("LEASE_LOST", `run ${run.id} was lost at epoch ${run.epoch}: ${why}`));
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
