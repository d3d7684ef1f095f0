import { type Database, type Queryable, withTransaction } from "../db/database.js";
import { insertApproval } from "../db/queries/approvals.js";
import { notifyRunQueued } from "../db/queries/run-queue.js";
import { requeueApprovedRun, takeWaitingRun } from "../db/queries/run-status.js";
import { findRun, requestCancel } from "../db/queries/runs.js";
import { SQLSTATE, sqlstateOf } from "../db/sqlstate.js";
import { AppError } from "../errors.js";
import { personName } from "../input-text.js";
import { isTerminal, type Run, type RunEnding } from "../glossary.js";
import type { KeyRing } from "../trace/key-store.js";
import { endWaitingRun, parkedAtEnd, rejectionMessage } from "../worker/end-waiting-run.js";
import { cancelRequest } from "../worker/cancel-request.js";
import { attestApproval } from "../worker/step-admission.js";
import { verifiedPrefix } from "../proof/verified-prefix.js";
import { requireTenant } from "./agents.js";

/*
 * A person's decisions on a run: approve, reject, cancel. Each is ONE transaction: every read it decides on and
 * every write it makes (the decision row, the trace rows, the run's status, its ending and records) commit together,
 * and when anything fails the run is left exactly as it was, so the decision can simply be made again.
 */

async function requireRun(db: Queryable, tenantId: string, runId: string): Promise<Run> {
  const run = await findRun(db, requireTenant(tenantId), runId);
  if (run === undefined) throw new AppError("RUN_NOT_FOUND", `Run not found: ${runId}`);
  return run;
}

/** Said about the run's own state, so a person reads why nothing was done, not a rule about claiming. */
function notWaiting(run: Run, action: string): AppError {
  if (isTerminal(run.status)) return alreadyEnded(run, action);
  return new AppError("RUN_NOT_PENDING_APPROVAL", `run ${run.id} is ${run.status}, not waiting for approval; nothing to ${action}`, {
    details: { run_id: run.id, status: run.status },
  });
}

function alreadyEnded(run: Run, action: string): AppError {
  return new AppError("RUN_ALREADY_ENDED", `run ${run.id} already ${run.status}; nothing to ${action}`, { details: { run_id: run.id, status: run.status } });
}

/** The run's row is held by someone else's decision or claim at this moment. */
function busy(run: Run, action: string): AppError {
  return new AppError("RUN_NOT_CLAIMABLE", `cannot ${action} run ${run.id} right now: another decision or a worker holds it; try again`);
}

/**
 * Who decides, as it will be recorded (hashed into the trace, shown by every reader): checked before anything is
 * taken or written, so a name that cannot be stored or shown changes nothing.
 */
function requireName(by: string | undefined): string {
  return personName(by, "by");
}

/**
 * Approves the step a parked run waits at and re-queues the run; it resumes at that step, whose decision will
 * name who approved it and when. Which step that is comes from the run's verified trace (its last attested row),
 * never from the run row, and the approval is attested for that row. The approval and the re-queue are one
 * transaction.
 */
export async function approveRun(db: Database, keys: KeyRing, tenantId: string, runId: string, by: string | undefined): Promise<Run> {
  const name = requireName(by);
  try {
    return await withTransaction(db, async (client) => {
      const run = await requireRun(client, tenantId, runId);
      if (run.status !== "pending_approval") throw notWaiting(run, "approve");
      // The run's row first, as a rejection or a cancel takes it first: decisions on one run queue up, never deadlock.
      if (!(await requeueApprovedRun(client, run.id))) throw notWaiting(await requireRun(client, tenantId, runId), "approve");
      const parked = parkedAtEnd(await verifiedPrefix(client, run, keys.attestation), run.id);
      const approval = { stepIndex: parked.stepIndex, decision: "approved" as const, decidedBy: name, decidedAt: new Date() };
      const attestation = attestApproval(keys.attestation.current, run.id, approval, parked.chainHash);
      await insertApproval(client, { ...approval, runId: run.id, tenantId: run.tenantId, attestation });
      await notifyRunQueued(client, run.id);
      return { ...run, status: "queued" as const };
    });
  } catch (error) {
    if (sqlstateOf(error) === SQLSTATE.UNIQUE_VIOLATION) throw new AppError("CONFLICT", `run ${runId}'s step was already decided`);
    throw error;
  }
}

/**
 * Rejects the step a parked run waits at: recorded in the trace (who, when) at the row the verified trace says the
 * run is parked at, and the run ends halted. A run whose trace does not check ends `tampered` instead, and the caller
 * hears so.
 */
export async function rejectRun(db: Database, keys: KeyRing, tenantId: string, runId: string, by: string | undefined, leaseMs: number): Promise<void> {
  const name = requireName(by);
  const { run, ending } = await withTransaction(db, async (client) => {
    const found = await requireRun(client, tenantId, runId);
    if (found.status !== "pending_approval") throw notWaiting(found, "reject");
    const holder = `reject-${process.pid}`;
    const run = await takeWaitingRun(client, { tenantId: found.tenantId, runId, statuses: ["pending_approval"], holder, leaseMs });
    if (run === undefined) throw busy(found, "reject");
    const rejection = { decidedBy: name, decidedAt: new Date() };
    const message = rejectionMessage(`rejected by ${name} at ${rejection.decidedAt.toISOString()}`);
    const halted: RunEnding = { status: "halted", errorMessage: message, terminationReason: "policy_block" };
    return { run, ending: await endWaitingRun(client, keys, run, halted, rejection) };
  });
  throwIfTampered(run, ending, "rejected");
}

export type CancelOutcome = "cancelled" | "requested";

/**
 * Cancels a run between steps. The request is recorded first, attested, for any run that has not ended: a worker
 * executing the run ends it after the step in flight (it reads the request back with that step's record), and one
 * that claims it later ends it before any step. A run no worker holds is then taken and ended at once (cancelled,
 * trace aborted).
 */
export async function cancelRun(db: Database, keys: KeyRing, tenantId: string, runId: string, leaseMs: number): Promise<CancelOutcome> {
  const taken = await withTransaction(db, async (client) => {
    const found = await requireRun(client, tenantId, runId);
    if (isTerminal(found.status)) throw alreadyEnded(found, "cancel");
    if (!(await requestCancel(client, cancelRequest(keys.attestation.current, found.tenantId, runId)))) {
      throw alreadyEnded(await requireRun(client, tenantId, runId), "cancel");
    }
    const holder = `cancel-${process.pid}`;
    const run = await takeWaitingRun(client, { tenantId: found.tenantId, runId, statuses: ["queued", "retry", "pending_approval"], holder, leaseMs });
    if (run === undefined) return undefined;
    const cancelled: RunEnding = { status: "cancelled", errorMessage: "Cancelled on request", terminationReason: "user_abort" };
    return { run, ending: await endWaitingRun(client, keys, run, cancelled) };
  });
  if (taken === undefined) return "requested";
  throwIfTampered(taken.run, taken.ending, "cancelled");
  return "cancelled";
}

/** A run taken to be ended whose trace failed its check was ended `tampered`, not the way it was asked to. */
function throwIfTampered(run: Run, ending: RunEnding, asked: string): void {
  if (ending.terminationReason !== "tampered") return;
  throw new AppError("TRACE_TAMPERED", `run ${run.id} was not ${asked}: ${ending.errorMessage ?? ""}; it was ended failed (tampered), nothing signed`);
}
