import { setTimeout as sleep } from "node:timers/promises";
import { findRun, findRunAgentSlots } from "../db/queries/runs.js";
import { claimRunById } from "../db/queries/run-status.js";
import { countLiveWorkers } from "../db/queries/workers.js";
import { AppError } from "../errors.js";
import { isSettled, type RunEnding } from "../glossary.js";
import { sequencerFor } from "../tenant-log/sequencer.js";
import { handBack } from "./database-faults.js";
import { executeClaimedRun, type Parked, type Released, type RunnerDeps } from "./runner.js";

/**
 * Claims the given run through the same claim statement a worker uses (status running, attempts + 1 counted
 * once, epoch + 1, lease) and executes it in this process. This is how `aos run` needs no second process.
 */
export async function claimAndExecute(deps: RunnerDeps, runId: string, workerId: string, signal?: AbortSignal): Promise<RunEnding | Parked | Released> {
  const run = await claimRunById(deps.db.pool, runId, workerId, deps.config.leaseMs);
  if (run === undefined) throw await whyNotClaimed(deps, runId);
  try {
    return await executeClaimedRun(deps, run, signal === undefined ? {} : { signal });
  } catch (error) {
    // Stopped in the middle of a step (a second Ctrl-C): nothing more is recorded, and the run goes back now.
    if (signal?.aborted === true && (await handBack(deps, run))) return { status: "released" };
    throw error;
  }
}

/** Why a claim by id took nothing: the run is not claimable now, or its agent is not active (it stays queued). */
async function whyNotClaimed(deps: RunnerDeps, runId: string): Promise<AppError> {
  const agent = await findRunAgentSlots(deps.db.pool, runId);
  if (agent !== undefined && agent.status !== "active") {
    return new AppError("AGENT_NOT_ACTIVE", `run ${runId} stays queued: its agent ${agent.agentId} is ${agent.status}`);
  }
  const reason =
    agent !== undefined && agent.running >= agent.limit
      ? `its agent ${agent.agentId} is running ${agent.running} run(s), its limit`
      : "it is not queued, or another worker holds it";
  return new AppError("RUN_NOT_CLAIMABLE", `run ${runId} is not claimable now: ${reason}`);
}

/**
 * Gets a queued run executed and returns once it is settled. With a live worker (`aos worker`) registered, the
 * worker executes it and this waits; with none, this process claims and executes it itself, through the same
 * claim. A worker that dies while this waits is noticed once its registration goes stale, and the run is then
 * claimed here (or by the reaper's requeue, whichever comes first). A run executed here is integrated into its
 * tenant's log, under a signed checkpoint, before this returns: this process signs no later checkpoint.
 */
export async function executeOrAwait(deps: RunnerDeps, tenantId: string, runId: string, workerId: string, signal?: AbortSignal, pollMs = 100): Promise<void> {
  for (;;) {
    // Asked to stop while another worker executes it: stop waiting; that worker goes on.
    if (deps.stop?.aborted === true) return;
    const run = await findRun(deps.db.pool, tenantId, runId);
    if (run === undefined) throw new AppError("RUN_NOT_FOUND", `Run not found: ${runId}`);
    if (isSettled(run.status)) return;
    if (run.status !== "running" && (await countLiveWorkers(deps.db.pool, deps.config.leaseMs)) === 0) {
      try {
        await claimAndExecute(deps, runId, workerId, signal);
        await sequencerFor(deps.db, deps.config, deps.keys, deps.log).settle(tenantId);
        return;
      } catch (error) {
        // A worker took it between our look and our claim, or its agent's slots are full: wait, as for any other.
        if (!(error instanceof AppError) || error.code !== "RUN_NOT_CLAIMABLE") throw error;
      }
    }
    await sleep(pollMs);
  }
}
