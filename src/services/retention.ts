import { type Database, type Queryable, withTransaction } from "../db/database.js";
import { RUN_REQUEST_TTL_HOURS } from "../db/queries/run-requests.js";
import {
  type ExpiredCount,
  listPrunableRuns,
  lockTraceSteps,
  type PrunableRun,
  type PruneScope,
  pruneTracePayloads,
  sweepExpired,
} from "../db/queries/retention.js";
import { sqlstateOf } from "../db/sqlstate.js";
import { AppError } from "../errors.js";
import { type ProofKeys, proveStoredTrace } from "../proof/prove-stored.js";
import { loadStoredTrace } from "../proof/stored-trace.js";
import type { ProofStatus } from "../trace/verdict.js";
import { requireTenant } from "./agents.js";

/** How long ago a run must have finished to be pruned, as given (`30d`) and in milliseconds. */
export interface RetentionAge {
  text: string;
  ms: number;
}

const UNIT_MS = { s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

const ACCEPTED = "a whole number of seconds, minutes, hours, days or weeks, at least 1, like 30d, 12h, 90min, 45s or 2w";

/**
 * Parses a retention age (`aos prune --older-than`): a whole number with a unit that cannot be misread (`45s`,
 * `90min`, `12h`, `30d`, `2w`). `m` is refused: it is minutes to some readers and months to others, and the wrong
 * reading deletes months of payloads; months are refused too (their length varies), with days suggested.
 */
export function parseRetentionAge(raw: string): RetentionAge {
  const text = raw.trim();
  const match = /^(\d{1,6})(s|min|h|d|w)$/.exec(text);
  const amount = Number(match?.[1]);
  if (match !== null && amount >= 1) return { text, ms: amount * UNIT_MS[match[2] as keyof typeof UNIT_MS] };
  const ambiguous = /^(\d{1,6})\s*(m|M|mo|mon|months?)$/.exec(text);
  const reason = ambiguous === null ? ACCEPTED : ambiguousReason(Number(ambiguous[1]), ambiguous[2] as string);
  throw new AppError("USAGE", `older_than must be ${reason}; got "${raw}"`, { details: { field: "older_than" } });
}

/** What to write instead of `6m` or `6mo`: minutes, or months as days (30 each, rounded the safe way: longer). */
function ambiguousReason(amount: number, unit: string): string {
  const days = `${Math.max(amount, 1) * 30}d`;
  if (unit === "m") return `unambiguous: "${amount}m" could mean ${amount} minutes or ${amount} months; write ${Math.max(amount, 1)}min for minutes or ${days} for months`;
  return `in days, hours, minutes, seconds or weeks (a month's length varies): write ${days} for about ${amount} month${amount === 1 ? "" : "s"}`;
}

export interface PruneRequest {
  olderThan: RetentionAge;
  /** Only this tenant's runs; undefined prunes every tenant's (an operator's command). */
  tenantId: string | undefined;
  dryRun: boolean;
  /** The clock the age is measured from; the current time unless a caller pins it. */
  now?: Date;
}

export interface PruneReport {
  dry_run: boolean;
  tenant_id: string | null;
  older_than: string;
  /** Runs that finished before this instant are in scope. */
  finished_before: string;
  /** Runs with at least one step pruned (or, in a dry run, that would be), and those steps. */
  runs: number;
  steps: number;
  /** Runs left whole because their proof is not VERIFIED: pruning them would erase the evidence. */
  refused: RefusedRun[];
  /** Rows past their own expiry, removed (or, in a dry run, that would be) whatever `older_than` says. */
  expired: ExpiredCount;
}

/** A run a prune left whole, and why. */
export interface RefusedRun {
  run_id: string;
  tenant_id: string;
  verification_status: ProofStatus;
  failure_reason: string | null;
}

const BATCH = 100;

/**
 * Retention: removes the payload (params, outcome_data, error and their bytes) of the trace steps of runs that
 * finished more than `olderThan` ago, keeping every header, hash, run-end and checkpoint, so their proofs still verify
 * and say how many steps were pruned. Each run is verified first, in the transaction that locks and empties its
 * rows: a run that does not verify is left whole and reported, so pruning never erases the evidence of a change
 * (docs/proofs.md, "Retention"). Steps already pruned are skipped. It also sweeps the rows past their own expiry
 * (kv_store entries and idempotency records, API idempotency keys older than 24 hours).
 */
export async function pruneFinishedRuns(db: Database, keys: ProofKeys, request: PruneRequest): Promise<PruneReport> {
  const tenantId = request.tenantId === undefined ? null : requireTenant(request.tenantId);
  const finishedBefore = new Date((request.now ?? new Date()).getTime() - request.olderThan.ms);
  const scope: PruneScope = { finishedBefore, tenantId };
  const count = { runs: 0, steps: 0 };
  const refused: RefusedRun[] = [];
  let after = "";
  for (;;) {
    const batch = await listPrunableRuns(db.pool, scope, after, BATCH);
    for (const run of batch) {
      const outcome = await withTransaction(db, (client) => verifyThenPrune(client, keys, run, request.dryRun)).catch((error: unknown) => {
        // One run whose rows cannot even be read as a trace is left whole and reported; the others are still pruned.
        if (!isAboutTheRun(error)) throw error;
        const reason = `its stored trace could not be verified: ${(error as Error).message}`;
        return { refused: { run_id: run.runId, tenant_id: run.tenantId, verification_status: "TAMPERED" as const, failure_reason: reason } };
      });
      if ("refused" in outcome) refused.push(outcome.refused);
      else if (outcome.steps > 0) {
        count.runs += 1;
        count.steps += outcome.steps;
      }
    }
    if (batch.length < BATCH) break;
    after = (batch.at(-1) as PrunableRun).runId;
  }
  const expired = await sweepExpired(db.pool, tenantId, RUN_REQUEST_TTL_HOURS, request.dryRun);
  return {
    dry_run: request.dryRun,
    tenant_id: tenantId,
    older_than: request.olderThan.text,
    finished_before: finishedBefore.toISOString(),
    runs: count.runs,
    steps: count.steps,
    refused,
    expired,
  };
}

/** One run: its rows locked, its proof checked, and only if VERIFIED its payloads emptied (or, dry, counted). */
async function verifyThenPrune(client: Queryable, keys: ProofKeys, run: PrunableRun, dryRun: boolean): Promise<{ steps: number } | { refused: RefusedRun }> {
  await lockTraceSteps(client, run.traceId);
  const stored = await loadStoredTrace(client, run.tenantId, run.runId);
  const proof = stored && (await proveStoredTrace(client, stored, keys));
  if (proof?.verdict.status !== "VERIFIED") {
    const verdict = proof?.verdict;
    return { refused: { run_id: run.runId, tenant_id: run.tenantId, verification_status: verdict?.status ?? "UNSUPPORTED", failure_reason: verdict?.failureReason ?? "No trace found for run" } };
  }
  return { steps: dryRun ? run.steps : await pruneTracePayloads(client, run.traceId) };
}

/**
 * Whether an error verifying one run is about that run's rows (a value no AOS process writes, that the reading code
 * or PostgreSQL refuses), rather than about reaching the database, which stops the whole prune.
 */
function isAboutTheRun(error: unknown): boolean {
  if (error instanceof AppError) return error.code === "TRACE_TAMPERED";
  const state = sqlstateOf(error);
  if (state !== undefined) return state.startsWith("22") || state.startsWith("23");
  return error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError;
}
