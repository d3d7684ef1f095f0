import type { Database } from "../db/database.js";
import { type Approval, findApproval } from "../db/queries/approvals.js";
import { reserveSpend, utcDay } from "../db/queries/budgets.js";
import type { Agent, RunEnding, TraceStep } from "../glossary.js";
import { allowed } from "../policy/decide.js";
import { failure } from "../skills/outcome.js";
import { type AttestationKey, type AttestationKeys, attest, attestationProblem } from "../trace/attestation.js";
import { canonicalJson } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/digest.js";
import { traceTampered } from "../proof/verified-prefix.js";

import type { Governed, LoadedPolicy } from "./govern-step.js";
import { type Attempt, attemptNotRun } from "./step-execution.js";

// What stands between a decided step and its execution: a person's approval, a denial, and the budget.

/**
 * The digest an approval's attestation covers: who decided what, on which step, when — and the chain hash of the
 * attested row the run parked at, so an approval counts for that wait only, not for a step the person never saw.
 */
function approvalDigest(approval: Omit<Approval, "attestation">, parkedAt: string): string {
  return sha256Hex(
    canonicalJson({
      step_index: approval.stepIndex,
      decision: approval.decision,
      decided_by: approval.decidedBy,
      decided_at: approval.decidedAt.toISOString(),
      parked_at: parkedAt,
    }),
  );
}

/** The row a run parked at for `stepIndex`: its last `blocked` APPROVAL_REQUIRED row for that step, if any. */
export function parkedRow(rows: readonly TraceStep[], stepIndex: number): TraceStep | undefined {
  return rows.findLast((row) => row.stepIndex === stepIndex && row.status === "blocked" && row.outcomeCode === "APPROVAL_REQUIRED");
}

/** Attests a person's decision on the step a run is parked at (docs/proofs.md, "Write-time attestations"). */
export function attestApproval(key: AttestationKey, runId: string, approval: Omit<Approval, "attestation">, parkedAt: string): string {
  return attest(key, runId, `approval/${approval.stepIndex}`, approvalDigest(approval, parkedAt));
}

/**
 * A step that needs approval runs once a person approved it: the decision then says who and when, so the
 * approval is inside the proof. Without an approval it stays a require_approval decision and the run parks. An
 * approval whose attestation does not hold for the row the run parked at (written into the database by someone
 * without the key, or moved to another step) is tampering.
 */
export async function withApproval(
  db: Database,
  keys: AttestationKeys,
  run: { id: string; rows: readonly TraceStep[] },
  index: number,
  governed: Extract<Governed, { kind: "require_approval" }>,
): Promise<Governed> {
  const approval = await findApproval(db.pool, run.id, index);
  if (approval?.decision !== "approved") return governed;
  const parked = parkedRow(run.rows, index);
  const problem =
    parked === undefined
      ? "the run never parked at that step"
      : attestationProblem(keys, run.id, `approval/${index}`, approvalDigest(approval, parked.chainHash), approval.attestation);
  if (problem !== undefined) throw traceTampered(`the approval of step ${index}: ${problem}`);
  const decision = allowed({
    action: "allow",
    reason: `approved by ${approval.decidedBy} at ${approval.decidedAt.toISOString()} (${governed.decision.reason})`,
    policy_id: "require_approval",
    policy_hash: governed.decision.policy_hash,
  });
  return decision === undefined
    ? governed
    : { kind: "allow", decision, estimatedCostCents: governed.estimatedCostCents, sideEffects: governed.sideEffects };
}

/** Whether steps reserve their estimates: the agent has a budget, or the tenant's policy a daily cap. */
export function reservesEstimates(agent: Pick<Agent, "budgetCents">, policy: LoadedPolicy): boolean {
  return agent.budgetCents !== null || dailyCapOf(policy) !== null;
}

function dailyCapOf(policy: LoadedPolicy): number | null {
  return policy.ok ? policy.policy.document.caps.tenant_daily_cost_cents : null;
}

export interface Reserved {
  cents: number;
  day: string;
}

/**
 * Reserves the step's estimated cost from the agent's budget and the tenant's day before it runs. A step whose
 * reservation would exceed what remains of either is not executed: it is recorded blocked and the run halts with
 * budget_exhausted. Nothing is reserved when neither limit is set; the step's cost is then only settled.
 */
export async function reserve(
  db: Database,
  payer: { agent: Agent; tenantId: string; policy: LoadedPolicy },
  estimatedCostCents: number,
  policyHash: string,
): Promise<Reserved | { attempt: Attempt; halt: RunEnding }> {
  const day = utcDay(new Date());
  if (estimatedCostCents <= 0 || !reservesEstimates(payer.agent, payer.policy)) return { cents: 0, day };
  const reservation = await reserveSpend(db, {
    agentId: payer.agent.id,
    tenantId: payer.tenantId,
    day,
    cents: estimatedCostCents,
    tenantDailyCapCents: dailyCapOf(payer.policy),
  });
  if (reservation.ok) return { cents: estimatedCostCents, day };
  const whose = reservation.limit === "tenant_daily_cap" ? ` (the tenant's daily cap, ${day} UTC)` : "";
  const message = `Hard budget limit reached: ${reservation.spentCents + estimatedCostCents}c consumed >= ${reservation.limitCents}c limit${whose}`;
  const policyId = reservation.limit === "tenant_daily_cap" ? "tenant_daily_cap" : "budget";
  const decision = { action: "deny" as const, reason: message, policy_id: policyId, policy_hash: policyHash };
  return {
    attempt: attemptNotRun(failure("BUDGET_EXCEEDED", message), decision),
    halt: { status: "halted", errorMessage: message, terminationReason: "budget_exhausted" },
  };
}

/** A denied step halts the run as a policy violation; a failed evaluation halts it as skipped enforcement. */
export function notAllowed(governed: Exclude<Governed, { kind: "allow" }>): { attempt: Attempt; halt: RunEnding } {
  const { decision } = governed;
  if (governed.kind === "skipped") {
    const message = `Enforcement skipped: ${governed.reason}`;
    return {
      attempt: attemptNotRun(failure("ENFORCEMENT_SKIPPED", message), decision),
      halt: { status: "halted", errorMessage: message, terminationReason: "policy_block" },
    };
  }
  const message = `Policy violation: ${decision.policy_id}: ${decision.reason}`;
  return {
    attempt: attemptNotRun(failure("POLICY_VIOLATION", message), decision),
    halt: { status: "halted", errorMessage: message, terminationReason: "policy_block" },
  };
}
