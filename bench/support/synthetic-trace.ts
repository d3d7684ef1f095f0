import { randomUUID } from "node:crypto";
import { type PlanStep, type StepDecision, type TraceStep, traceIdFor } from "../../src/glossary.js";
import { ok } from "../../src/skills/outcome.js";
import { findSkill } from "../../src/skills/registry.js";
import { formatCheckpoint, signCheckpoint } from "../../src/trace/checkpoint.js";
import { merkleRoot } from "../../src/trace/merkle.js";
import { generateSigningKey, type NoteVerifier } from "../../src/trace/signed-note.js";
import { chainGenesis, planHash, type TraceHeader } from "../../src/trace/step-hash.js";
import type { TraceEvidence } from "../../src/trace/verify-trace.js";
import { checkpointOrigin } from "../../src/worker/finalize.js";
import { buildTraceStep, type TraceCursor } from "../../src/worker/record-step.js";

/** A finished run's trace built in memory the way the runner builds it, with the checkpoint finalizeRun signs. */
export interface SyntheticTrace {
  evidence: TraceEvidence;
  verifiers: NoteVerifier[];
  /** The verification key as C2SP vkey text, for a bundle's `verification_keys`. */
  verifierKey: string;
}

const STEP_MS = 40;
/** The policy engine's answer the runner records with each step it lets run. */
const ALLOW: StepDecision = { action: "allow", reason: "allowed", policy_id: "default", policy_hash: "9f2c".repeat(16) };

/**
 * One http_call step as a planner would write it: a few hundred bytes of params, a secret header (stored
 * redacted, as the runner stores it), and a JSON response of similar size. Each step differs in ids and amounts.
 */
function attemptFor(index: number, startedAt: Date) {
  const skill = findSkill("http_call");
  if (skill === undefined) throw new Error("the http_call skill is not registered");
  const orderId = 100_000 + index;
  const params = {
    url: `https://api.example.com/v1/orders/${orderId}/fulfil?expand=items,customer`,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer tok_${orderId.toString(36)}`, "x-request-id": `req-${index}` },
    body: { order_id: orderId, warehouse: "fra-2", items: [{ sku: "A-1001", qty: 2 }, { sku: "B-2040", qty: 1 }], note: "leave at the front desk" },
    timeout_ms: 5_000,
  };
  const result = {
    status: 200,
    headers: { "content-type": "application/json", "x-ratelimit-remaining": String(900 - (index % 900)) },
    body: { id: `ful_${orderId}`, state: "accepted", total_cents: 4_250 + (index % 97), eta: "2026-11-26", carrier: "DHL" },
  };
  const step: PlanStep = { step_id: `fulfil-${index}`, skill: "http_call", params, on_error: "abort", retry_count: 0, depends_on: [] };
  const completedAt = new Date(startedAt.getTime() + STEP_MS);
  return {
    step,
    stepIndex: index,
    attempt: 1,
    skill,
    params,
    result: { outcome: ok(result, { costCents: 1, tokens: 0 }), startedAt, completedAt, durationMs: STEP_MS, decision: ALLOW },
    nextStepIndex: index + 1,
    agentId: "bench-agent",
    reservedCents: 0,
  };
}

/** Builds `stepCount` rows with buildTraceStep (redaction, storable JSON, leaf and chain hash), then signs. */
export function syntheticTrace(stepCount: number): SyntheticTrace {
  const runId = randomUUID();
  const createdAt = new Date("2026-11-24T08:00:00.000Z");
  const header: TraceHeader = {
    trace_id: traceIdFor(runId),
    run_id: runId,
    tenant_id: "bench",
    agent_id: "default",
    plan_hash: planHash({ steps: [{ step_id: "fulfil", skill: "http_call" }] }),
    created_at: createdAt.toISOString(),
  };
  const cursor: TraceCursor = {
    runId,
    tenantId: header.tenant_id,
    traceId: header.trace_id,
    epoch: 1,
    seq: 0,
    chainHead: chainGenesis(header),
    leafHashes: [],
  };
  const steps: TraceStep[] = [];
  for (let i = 0; i < stepCount; i++) {
    const step = buildTraceStep(cursor, attemptFor(i, new Date(createdAt.getTime() + i * STEP_MS)));
    steps.push(step);
    cursor.seq += 1;
    cursor.chainHead = step.chainHash;
    cursor.leafHashes.push(step.leafHash);
  }

  const keys = generateSigningKey("aos.local");
  const root = merkleRoot(cursor.leafHashes.map((leaf) => Buffer.from(leaf, "hex")));
  const origin = checkpointOrigin(keys.signer.name, runId);
  const body = formatCheckpoint({ origin, treeSize: cursor.seq, merkleRoot: root, chainHead: cursor.chainHead });
  return {
    evidence: {
      header,
      storedPlanHash: header.plan_hash,
      steps,
      finished: true,
      storedRootHash: cursor.chainHead,
      storedMerkleRoot: root.toString("hex"),
      storedTreeSize: cursor.seq,
      checkpointNote: signCheckpoint(body, keys.signer),
    },
    verifiers: [keys.verifier],
    verifierKey: keys.verifierKey,
  };
}
