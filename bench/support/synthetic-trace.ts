import { randomUUID } from "node:crypto";
import { type Plan, type PlanStep, type Run, type RunEnding, type StepDecision, type TraceStep, traceIdFor } from "../../src/glossary.js";
import { ok } from "../../src/skills/outcome.js";
import { findSkill } from "../../src/skills/registry.js";
import { attest, attestationKeys, deriveAttestationKey } from "../../src/trace/attestation.js";
import { chainNext, genesisHash, leafHashOf } from "../../src/trace/chain.js";
import { checkpointOrigin, formatCheckpoint, signCheckpoint } from "../../src/trace/checkpoint.js";
import { merkleRootHex } from "../../src/trace/merkle.js";
import { generateSigningKey, type NoteVerifier, signerKeySeed } from "../../src/trace/signed-note.js";
import { encodeRecord, planBytes, TRACE_FORMAT, type TraceHeader } from "../../src/trace/trace-header.js";
import type { StoredAttestations, StoredStep, TraceRecord } from "../../src/trace/verify-trace.js";
import { buildRunEnd } from "../../src/worker/finalize.js";
import { type AttemptToRecord, buildTraceStep, type TraceCursor } from "../../src/worker/record-step.js";

/**
 * A finished run's format v2 trace, built in memory the way the runner writes it, as the database returns it:
 * every byte string a Buffer (bytea), the stored leaf and chain hashes beside them, the run-end, the chain head
 * and the signed checkpoint.
 */
export interface SyntheticTrace {
  record: TraceRecord;
  /** The write-time attestations stored beside the rows, with the key that checks them (what `aos proof` has on a signing host). */
  attestations: StoredAttestations;
  verifiers: NoteVerifier[];
  /** The verification key as C2SP vkey text, as `aos verify --key` takes it. */
  verifierKey: string;
}

const STEP_MS = 40;
const CREATED_AT = new Date("2026-11-24T08:00:00.000Z");
/** The claim comes a little after the run is created; the first step starts then. */
const CLAIMED_AFTER_MS = 25;
/** The policy engine's answer the runner records with each step it lets run. */
const ALLOW: StepDecision = { action: "allow", reason: "allowed", policy_id: "default", policy_hash: "9f2c".repeat(16) };
const SUCCEEDED: RunEnding = { status: "succeeded", errorMessage: null, terminationReason: "completed" };

/**
 * One http_call step as a planner would write it: a few hundred bytes of params, a secret header (stored
 * redacted, as the runner stores it), and a JSON response of similar size. Each step differs in ids and amounts.
 */
function planStep(index: number): PlanStep {
  const orderId = 100_000 + index;
  const params = {
    url: `https://api.example.com/v1/orders/${orderId}/fulfil?expand=items,customer`,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer tok_${orderId.toString(36)}`, "x-request-id": `req-${index}` },
    body: { order_id: orderId, warehouse: "fra-2", items: [{ sku: "A-1001", qty: 2 }, { sku: "B-2040", qty: 1 }], note: "leave at the front desk" },
    timeout_ms: 5_000,
  };
  return { step_id: `fulfil-${index}`, skill: "http_call", params, on_error: "abort", retry_count: 0, depends_on: [] };
}

function attemptFor(step: PlanStep, index: number, startedAt: Date): AttemptToRecord {
  const skill = findSkill("http_call");
  if (skill === undefined) throw new Error("the http_call skill is not registered");
  const orderId = 100_000 + index;
  const result = {
    status: 200,
    headers: { "content-type": "application/json", "x-ratelimit-remaining": String(900 - (index % 900)) },
    body: { id: `ful_${orderId}`, state: "accepted", total_cents: 4_250 + (index % 97), eta: "2026-11-26", carrier: "DHL" },
  };
  const completedAt = new Date(startedAt.getTime() + STEP_MS);
  return {
    step,
    stepIndex: index,
    attempt: 1,
    skill,
    params: step.params,
    result: { outcome: ok(result, { costCents: 1, tokens: 0 }), startedAt, completedAt, durationMs: STEP_MS, decision: ALLOW },
    nextStepIndex: index + 1,
    agentId: "bench-agent",
    reservedCents: 0,
  };
}

/**
 * Builds a run of `stepCount` steps exactly as AOS writes one: the trace header and plan bytes and the header's
 * attestation as createRun makes them; each row with buildTraceStep (redaction, storable JSON, canonical payload
 * bytes and hashes, the step header, its leaf, the chain, the attestation) from a real cursor; then the run-end,
 * its leaf and chain hash, the Merkle root over every leaf and the signed five-line checkpoint, as finalizeRun makes
 * them (finalizeRun's own CPU part is not exported apart from its transaction, so it is repeated here step for step).
 */
export function syntheticTrace(stepCount: number): SyntheticTrace {
  const runId = randomUUID();
  const keys = generateSigningKey("aos.local");
  const attestationKey = deriveAttestationKey(signerKeySeed(keys.signerKey), keys.signer.keyId);

  // createRun: the plan's and the header's canonical bytes, h₀ and the header's attestation.
  const steps = Array.from({ length: stepCount }, (_, index) => planStep(index));
  const plan: Plan = { plan_id: `plan_${runId}`, planner: "explicit", steps };
  const planned = planBytes(plan);
  const header: TraceHeader = {
    format: TRACE_FORMAT,
    trace_id: traceIdFor(runId),
    run_id: runId,
    tenant_id: "bench",
    agent_id: "bench-agent",
    origin_system_id: "cus-cli",
    actor_type: "SYSTEM",
    actor_id: null,
    parent_run_id: null,
    goal: "fulfil the day's orders",
    plan_sha256: planned.sha256,
    created_at: CREATED_AT.toISOString(),
  };
  const headerBytes = encodeRecord(header);
  const genesis = genesisHash(headerBytes);

  // The runner: a cursor from the verified (empty) prefix, then one recorded attempt after another.
  const cursor: TraceCursor = {
    runId,
    tenantId: header.tenant_id,
    traceId: header.trace_id,
    epoch: 1,
    header,
    seq: 0,
    chainHead: genesis,
    leafHashes: [],
    keys: attestationKeys(attestationKey),
  };
  const startedAt = new Date(CREATED_AT.getTime() + CLAIMED_AFTER_MS);
  const stored: StoredStep[] = [];
  const rows: TraceStep[] = [];
  const stepAttestations: string[] = [];
  for (let i = 0; i < stepCount; i++) {
    const built = buildTraceStep(cursor, attemptFor(steps[i] as PlanStep, i, new Date(startedAt.getTime() + i * STEP_MS)));
    const { step, bytes } = built;
    stored.push({ header: bytes.header, params: bytes.params, outcome: bytes.outcome, error: bytes.error, leafHash: step.leafHash, chainHash: step.chainHash });
    rows.push(step);
    stepAttestations.push(built.attestation);
    // recordAttempt's cursor move, once the row is written.
    cursor.seq += 1;
    cursor.chainHead = step.chainHash;
    cursor.leafHashes.push(step.leafHash);
  }

  // finalizeRun: the run-end, its leaf and chain hash, the Merkle root over every leaf, the signed checkpoint.
  const completedAt = new Date(startedAt.getTime() + stepCount * STEP_MS);
  const run: Run = {
    id: runId,
    tenantId: header.tenant_id,
    agentId: header.agent_id,
    goal: header.goal,
    status: "running",
    attempts: 1,
    errorMessage: null,
    terminationReason: null,
    plan,
    originSystemId: header.origin_system_id,
    actorType: header.actor_type,
    actorId: header.actor_id,
    costCents: rows.reduce((sum, row) => sum + row.costCents, 0),
    createdAt: CREATED_AT,
    startedAt,
    completedAt: null,
    durationMs: null,
    epoch: cursor.epoch,
    nextSeq: cursor.seq,
    nextStepIndex: stepCount,
    chainHead: cursor.chainHead,
    cancelRequest: null,
  };
  const runEndBytes = encodeRecord(buildRunEnd(cursor, run, SUCCEEDED, rows, completedAt));
  const endLeaf = leafHashOf(runEndBytes);
  const rootHash = chainNext(cursor.chainHead, endLeaf);
  const leaves = [...cursor.leafHashes, endLeaf];
  const merkleRoot = merkleRootHex(leaves);
  const origin = checkpointOrigin(keys.signer.name, runId);
  const body = formatCheckpoint({ format: "aos-trace-v2", origin, treeSize: leaves.length, merkleRoot: Buffer.from(merkleRoot, "hex"), chainHead: rootHash });

  return {
    record: { header: headerBytes, plan: planned.bytes, steps: stored, runEnd: runEndBytes, rootHash, checkpoint: signCheckpoint(body, keys.signer) },
    attestations: {
      keys: attestationKeys(attestationKey),
      header: attest(attestationKey, runId, "genesis", genesis),
      steps: stepAttestations,
    },
    verifiers: [keys.verifier],
    verifierKey: keys.verifierKey,
  };
}
