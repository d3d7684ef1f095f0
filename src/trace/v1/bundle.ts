import { z } from "zod";
import { isoTime, type TraceStep } from "../../glossary.js";
import { isTimestamp } from "../record-shape.js";
import { contentOf, isPruned } from "./step-content.js";
import type { StepContent, TraceHeader } from "./step-hash.js";
import type { TraceEvidence } from "./verify-trace.js";

/**
 * A format v1 proof bundle: what `aos export-proof` writes for a run finished before format v2, and what it wrote
 * then, so such bundles keep verifying. A bundle:
 * everything needed to check one run's trace with no database — the header facts, every step's
 * content with its stored hashes, the trace row's finalization hashes, the signed checkpoint, and the
 * verification keys the exporter trusted (public; a verifier should pin its own with --key).
 *
 * A step `aos prune` emptied carries `pruned: true` and `pruned_at` instead of params, outcome_data and error. The
 * format stays v1: a bundle with no pruned step is exactly what it was, and a verifier that predates pruning
 * rejects a pruned step as malformed rather than passing it.
 */
export const BUNDLE_FORMAT = "aos-proof-bundle/v1";

export type FullBundleStep = StepContent & { leaf_hash: string; chain_hash: string };
export type PrunedBundleStep = Omit<FullBundleStep, "params" | "outcome_data" | "error"> & { pruned: true; pruned_at: string };
export type BundleStep = FullBundleStep | PrunedBundleStep;

export interface ProofBundle {
  format: typeof BUNDLE_FORMAT;
  run: { run_id: string; tenant_id: string; agent_id: string; status: string; finished: boolean; plan_hash: string };
  trace: {
    trace_id: string;
    created_at: string;
    plan_hash: string;
    status: string;
    root_hash: string | null;
    merkle_root: string | null;
    tree_size: number | null;
  };
  steps: BundleStep[];
  checkpoint: string | null;
  verification_keys: string[];
}

export interface BundleInput {
  header: TraceHeader;
  runStatus: string;
  finished: boolean;
  traceStatus: string;
  storedPlanHash: string;
  storedRootHash: string | null;
  storedMerkleRoot: string | null;
  storedTreeSize: number | null;
  steps: readonly TraceStep[];
  checkpointNote: string | null;
  verificationKeys: string[];
}

export function buildBundle(input: BundleInput): ProofBundle {
  const { header } = input;
  return {
    format: BUNDLE_FORMAT,
    run: {
      run_id: header.run_id,
      tenant_id: header.tenant_id,
      agent_id: header.agent_id,
      status: input.runStatus,
      finished: input.finished,
      plan_hash: header.plan_hash,
    },
    trace: {
      trace_id: header.trace_id,
      created_at: header.created_at,
      plan_hash: input.storedPlanHash,
      status: input.traceStatus,
      root_hash: input.storedRootHash,
      merkle_root: input.storedMerkleRoot,
      tree_size: input.storedTreeSize,
    },
    steps: input.steps.map(bundleStep),
    checkpoint: input.checkpointNote,
    verification_keys: input.verificationKeys,
  };
}

function bundleStep(step: TraceStep): BundleStep {
  const hashes = { leaf_hash: step.leafHash, chain_hash: step.chainHash };
  if (!isPruned(step)) return { ...contentOf(step), ...hashes };
  const { params: _params, outcome_data: _outcomeData, error: _error, ...kept } = contentOf(step);
  return { ...kept, ...hashes, pruned: true, pruned_at: isoTime(step.prunedAt as Date) ?? "(not a time)" };
}

// Timestamps must be exactly as written (ISO 8601, milliseconds, Z), so no other spelling of a time can pass.
const timestamp = z.string().refine((text) => isTimestamp(text) === undefined, "not a canonical timestamp of a real date");
const hash = z.string().regex(/^[0-9a-f]{64}$/, "not a 64-digit lowercase hex hash");
const stepError = z.object({ code: z.string(), message: z.string(), category: z.string(), retryable: z.boolean(), details: z.record(z.string(), z.unknown()).optional() }).strict();
const decision = z.object({ action: z.enum(["allow", "deny", "require_approval"]), reason: z.string(), policy_id: z.string(), policy_hash: z.string() }).strict();

const stepFields = {
  seq: z.int().nonnegative(),
  step_index: z.int().nonnegative(),
  step_id: z.string(),
  attempt: z.int().positive(),
  skill: z.string(),
  skill_version: z.string(),
  status: z.enum(["succeeded", "failed", "blocked", "started", "interrupted"]),
  outcome_code: z.string(),
  cost_cents: z.int().nonnegative(),
  tokens: z.int().nonnegative(),
  duration_ms: z.int().nonnegative(),
  started_at: timestamp,
  completed_at: timestamp,
  decision: decision.nullable(),
  leaf_hash: hash,
  chain_hash: hash,
};

// Chosen by `pruned`, so a malformed step is reported by its field, not as "matches neither shape".
const stepShape = z.discriminatedUnion("pruned", [
  z
    .object({
      ...stepFields,
      params: z.record(z.string(), z.unknown()),
      outcome_data: z.unknown(),
      error: stepError.nullable(),
      // Absent, never `false`: an unpruned step is spelled exactly as before pruning existed.
      pruned: z.undefined().optional(),
    })
    .strict(),
  z.object({ ...stepFields, pruned: z.literal(true), pruned_at: timestamp }).strict(),
]);

const bundleShape = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    run: z.object({ run_id: z.string(), tenant_id: z.string(), agent_id: z.string(), status: z.string(), finished: z.boolean(), plan_hash: hash }).strict(),
    trace: z
      .object({
        trace_id: z.string(),
        created_at: timestamp,
        plan_hash: hash,
        status: z.string(),
        root_hash: hash.nullable(),
        merkle_root: hash.nullable(),
        tree_size: z.int().nonnegative().nullable(),
      })
      .strict(),
    steps: z.array(stepShape),
    checkpoint: z.string().nullable(),
    verification_keys: z.array(z.string()),
  })
  .strict();

export type ParsedBundle =
  | { ok: true; bundle: ProofBundle; evidence: TraceEvidence }
  | { ok: false; reason: string; firstBadSeq: number | null };

/** Parses a bundle strictly; a malformed step is reported with its position, as tampering with that step. */
export function parseBundle(text: string): ParsedBundle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `the bundle is not JSON: ${(error as Error).message}`, firstBadSeq: null };
  }
  const parsed = bundleShape.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined ? [] : issue.path;
    const firstBadSeq = path[0] === "steps" && typeof path[1] === "number" ? path[1] : null;
    const where = path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("").replace(/^\./, "");
    return { ok: false, reason: `the bundle is malformed at ${where || "its top level"}: ${issue?.message}`, firstBadSeq };
  }
  const bundle = parsed.data as ProofBundle;
  return { ok: true, bundle, evidence: evidenceFromBundle(bundle) };
}

function evidenceFromBundle(bundle: ProofBundle): TraceEvidence {
  return {
    header: {
      trace_id: bundle.trace.trace_id,
      run_id: bundle.run.run_id,
      tenant_id: bundle.run.tenant_id,
      agent_id: bundle.run.agent_id,
      plan_hash: bundle.run.plan_hash,
      created_at: bundle.trace.created_at,
    },
    storedPlanHash: bundle.trace.plan_hash,
    finished: bundle.run.finished,
    storedRootHash: bundle.trace.root_hash,
    storedMerkleRoot: bundle.trace.merkle_root,
    storedTreeSize: bundle.trace.tree_size,
    checkpointNote: bundle.checkpoint,
    steps: bundle.steps.map((step) => stepFromBundle(bundle.trace.trace_id, step)),
  };
}

function stepFromBundle(traceId: string, step: BundleStep): TraceStep {
  const payload =
    "pruned" in step
      ? { params: {}, outcomeData: null, error: null, prunedAt: new Date(step.pruned_at) }
      : { params: step.params, outcomeData: step.outcome_data, error: step.error, prunedAt: null };
  return {
    traceId,
    seq: step.seq,
    stepIndex: step.step_index,
    stepId: step.step_id,
    attempt: step.attempt,
    skillName: step.skill,
    skillVersion: step.skill_version,
    status: step.status,
    outcomeCode: step.outcome_code,
    costCents: step.cost_cents,
    tokens: step.tokens,
    durationMs: step.duration_ms,
    startedAt: new Date(step.started_at),
    completedAt: new Date(step.completed_at),
    decision: step.decision,
    leafHash: step.leaf_hash,
    chainHash: step.chain_hash,
    ...payload,
  };
}
