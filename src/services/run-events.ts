import { setTimeout as sleep } from "node:timers/promises";
import type { Queryable } from "../db/database.js";
import { findRunProgress } from "../db/queries/runs.js";
import { listStepRows } from "../db/queries/trace-steps.js";
import { AppError } from "../errors.js";
import { type AttemptStarted, isTerminal, type TraceStep, traceIdFor } from "../glossary.js";
import { stepOfRow } from "../proof/stored-trace.js";
import type { RunEvent } from "../views/run-events.js";

export type { RunEvent } from "../views/run-events.js";

export interface FollowOptions {
  /** How long to wait between two reads of the run while nothing ends it. */
  pollMs: number;
  /** The seq of the last step the follower has seen (a reconnecting client's Last-Event-ID): it hears what follows. */
  afterSeq?: number;
  /** Aborted: read the run once more, tell what is new, and stop (the follower saw the run settle, or went away). */
  stop?: AbortSignal;
}

/**
 * Follows a run of the tenant from the database, whoever executes it (this process, a worker, another `aos run`):
 * GET /runs/{id}/events streams these events, `aos run` and `aos get-run --watch` print them. Every attempt the
 * policy engine allowed is told by exactly one `step_started` before its rows (a follower that reconnects may be told
 * the one in flight again). Throws RUN_NOT_FOUND (another tenant's run too) before anything is told; the events then
 * come until the run ends or `stop` is aborted.
 */
export async function followRun(db: Queryable, tenantId: string, runId: string, options: FollowOptions): Promise<AsyncGenerator<RunEvent>> {
  if ((await findRunProgress(db, tenantId, runId)) === undefined) {
    throw new AppError("RUN_NOT_FOUND", `Run not found: ${runId}`, { details: { run_id: runId } });
  }
  return runEvents(db, tenantId, runId, options);
}

async function* runEvents(db: Queryable, tenantId: string, runId: string, options: FollowOptions): AsyncGenerator<RunEvent> {
  const afterSeq = options.afterSeq ?? -1;
  let readAfter = -1;
  let status = "";
  // Attempts whose start has been told (or, up to afterSeq, was told on an earlier connection).
  const told = new Set<string>();
  for (;;) {
    // Stopped before this read began: it is the last, so what was recorded before the stop is all told.
    const last = options.stop?.aborted === true;
    const progress = await findRunProgress(db, tenantId, runId);
    if (progress === undefined) return;
    const { run, attemptStarted } = progress;
    const terminal = isTerminal(run.status);
    // A change to running (or back to queued) is told before the steps it ran; a stop after the steps that led to
    // it: an ending, and a park (pending_approval) too, whose blocked step comes first, as the reason for it.
    const toldFirst = run.status === "running" || run.status === "queued";
    if (toldFirst && run.status !== status) {
      status = run.status;
      yield { kind: "status", run };
    }
    // The rows are read after the run, so they hold every attempt the run's mark could name as finished.
    for (const step of (await listStepRows(db, traceIdFor(runId), readAfter)).map(stepOfRow)) {
      readAfter = step.seq;
      const attempt = attemptKey(step);
      if (step.seq <= afterSeq) {
        told.add(attempt);
        continue;
      }
      if (began(step) && !told.has(attempt)) {
        told.add(attempt);
        yield { kind: "step_started", started: startedOf(step) };
      }
      yield { kind: "step", step };
    }
    if (run.status === "running" && attemptStarted !== undefined && !told.has(attemptKey(attemptStarted))) {
      told.add(attemptKey(attemptStarted));
      yield { kind: "step_started", started: attemptStarted };
    }
    if (run.status !== status) {
      status = run.status;
      yield { kind: "status", run };
    }
    if (terminal) {
      yield { kind: "end", run };
      return;
    }
    if (last) return;
    await sleep(options.pollMs, undefined, { signal: options.stop }).catch(() => undefined);
  }
}

function attemptKey(attempt: { stepIndex: number; attempt: number }): string {
  return `${attempt.stepIndex}/${attempt.attempt}`;
}

/** A row of an attempt that executed: the policy engine allowed it (a denied or parked one never began). */
function began(step: TraceStep): boolean {
  return step.decision?.action === "allow" && step.status !== "blocked";
}

function startedOf(step: TraceStep): AttemptStarted {
  return {
    stepIndex: step.stepIndex,
    stepId: step.stepId,
    skillName: step.skillName,
    attempt: step.attempt,
    decision: step.decision,
    startedAt: step.startedAt,
  };
}
