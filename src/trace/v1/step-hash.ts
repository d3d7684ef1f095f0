import { createHash } from "node:crypto";
import type { StepDecision, StepError, StepStatus } from "../../glossary.js";
import { canonicalBytes, canonicalJson } from "../canonical-json.js";

/**
 * The hashing of trace format v1, kept to verify runs finished before format v2 (docs/proofs.md, "Format v1"):
 *   leaf  = SHA-256(0x00 ‖ JCS(step content))                    (RFC 6962 §2.1 leaf hash)
 *   h₀    = SHA-256("aos-trace-v1\n" ‖ JCS(trace header))
 *   hᵢ    = SHA-256(hᵢ₋₁ ‖ leafᵢ)  over raw digest bytes, in seq order; the last one is the chain head.
 */
const TRACE_FORMAT = "aos-trace-v1";

/** Everything a trace step row says except its hashes. Field names are the stored column names. */
export interface StepContent {
  seq: number;
  step_index: number;
  step_id: string;
  attempt: number;
  skill: string;
  skill_version: string;
  params: Record<string, unknown>;
  status: StepStatus;
  outcome_code: string;
  outcome_data: unknown;
  error: StepError | null;
  cost_cents: number;
  tokens: number;
  duration_ms: number;
  started_at: string;
  completed_at: string;
  decision: StepDecision | null;
}

export interface TraceHeader {
  trace_id: string;
  run_id: string;
  tenant_id: string;
  agent_id: string;
  plan_hash: string;
  created_at: string;
}

const LEAF_PREFIX = Buffer.from([0x00]);
const GENESIS_PREFIX = Buffer.from(`${TRACE_FORMAT}\n`, "utf8");

function sha256Hex(...parts: Buffer[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

export function leafHash(content: StepContent): string {
  // The canonical text goes to the hash as UTF-8 directly: no intermediate Buffer per leaf.
  return createHash("sha256").update(LEAF_PREFIX).update(canonicalJson(content), "utf8").digest("hex");
}

export function chainGenesis(header: TraceHeader): string {
  return sha256Hex(GENESIS_PREFIX, canonicalBytes(header));
}

// The chain step is the same in both formats.
export { chainNext } from "../chain.js";

/** The hash a trace header pins its plan with. */
export function planHash(plan: unknown): string {
  return sha256Hex(canonicalBytes(plan));
}
