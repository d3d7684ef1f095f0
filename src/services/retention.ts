import type { Database } from "../db/database.js";
import { RUN_REQUEST_TTL_HOURS } from "../db/queries/run-requests.js";
import { countPrunableSteps, type ExpiredCount, pruneStepPayloads, sweepExpired } from "../db/queries/retention.js";
import { AppError } from "../errors.js";
import { requireTenant } from "./agents.js";

/** How long ago a run must have finished to be pruned, as given (`30d`) and in milliseconds. */
export interface RetentionAge {
  text: string;
  ms: number;
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** Parses `--older-than`: a whole number of days, hours or minutes, at least 1 (`30d`, `12h`, `90m`). */
export function parseRetentionAge(raw: string): RetentionAge {
  const match = /^(\d{1,6})([dhm])$/.exec(raw.trim());
  const amount = Number(match?.[1]);
  if (match === null || amount < 1) {
    throw new AppError(
      "USAGE",
      `--older-than must be a whole number of days, hours or minutes, at least 1, like 30d, 12h or 90m; got "${raw}"`,
    );
  }
  return { text: `${amount}${match[2]}`, ms: amount * UNIT_MS[match[2] as keyof typeof UNIT_MS] };
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
  /** Rows past their own expiry, removed (or, in a dry run, that would be) whatever `older_than` says. */
  expired: ExpiredCount;
}

/**
 * Retention: removes the payload (params, outcome_data, error) of the trace steps of runs that finished more than
 * `olderThan` ago, keeping every hash, trace row and checkpoint, so their proofs still verify and say how many
 * steps were pruned. Steps already pruned are skipped, so pruning again prunes nothing new. It also sweeps the rows
 * past their own expiry (kv_store entries and idempotency records, API idempotency keys older than 24 hours).
 */
export async function pruneFinishedRuns(db: Database, request: PruneRequest): Promise<PruneReport> {
  const tenantId = request.tenantId === undefined ? null : requireTenant(request.tenantId);
  const finishedBefore = new Date((request.now ?? new Date()).getTime() - request.olderThan.ms);
  const scope = { finishedBefore, tenantId };
  const count = request.dryRun ? await countPrunableSteps(db.pool, scope) : await pruneStepPayloads(db.pool, scope);
  const expired = await sweepExpired(db.pool, tenantId, RUN_REQUEST_TTL_HOURS, request.dryRun);
  return {
    dry_run: request.dryRun,
    tenant_id: tenantId,
    older_than: request.olderThan.text,
    finished_before: finishedBefore.toISOString(),
    runs: count.runs,
    steps: count.steps,
    expired,
  };
}
