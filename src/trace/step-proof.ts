import { checkpointOrigin } from "./checkpoint.js";
import { parseRunEnd } from "./run-end.js";
import { readNote, type NoteVerifier } from "./signed-note.js";
import { parseStepHeader } from "./step-header.js";
import { parseStrictJson } from "./strict-json.js";
import { parseTlogProof, type TlogProofFailureCode, verifyTlogProof } from "./tlog-proof.js";

/** What a verified step proof proves: one leaf of one run's signed trace, and what that leaf records. */
export interface ProvenLeaf {
  seq: number;
  treeSize: number;
  origin: string;
  runId: string;
  signedBy: string[];
  /** The leaf as recorded: a step header (`kind` "step", or a v1 step's content), or the run-end. */
  leaf: { kind: "step" | "run_end"; step_id: string; skill: string; status: string; termination_reason?: string };
}

export type StepProofResult = ({ ok: true } & ProvenLeaf) | { ok: false; code: TlogProofFailureCode | "NOT_A_TRACE_LEAF" | "NOT_A_RUN_CHECKPOINT"; reason: string };

/**
 * Verifies a step proof written by `aos prove-step` (docs/proofs.md, "One step"): the tlog-proof's audit path to a
 * checkpoint signed by a trusted key, then what a run's checkpoint and leaves must be, as `aos verify` holds a
 * bundle to: exactly one signature line, an origin of exactly `<signer's key name>/run/<run_id>`, and a leaf that
 * is the one at its index — a step header whose seq is the index (before the last leaf), or the run-end at the last
 * index naming that run — read as I-JSON.
 */
export function verifyStepProof(text: string, verifiers: readonly NoteVerifier[]): StepProofResult {
  const result = verifyTlogProof(text, verifiers);
  if (!result.ok) return result;
  const { index, treeSize, checkpoint, extra } = result;
  const parsed = parseTlogProof(text);
  const signers = parsed.ok ? readNote(parsed.proof.checkpointNote) : parsed;
  const signer = signers.ok && signers.signers.length === 1 ? signers.signers[0]?.name : undefined;
  if (signer === undefined) return notARun("a run checkpoint carries exactly one signature line");
  const prefix = checkpointOrigin(signer, "");
  if (!checkpoint.origin.startsWith(prefix) || checkpoint.origin.length === prefix.length) {
    return notARun(`the checkpoint's origin "${checkpoint.origin}" is not "${prefix}<run_id>" (its signer's log for a run)`);
  }
  const runId = checkpoint.origin.slice(prefix.length);
  const leaf = checkpoint.format === "aos-trace-v2" ? v2Leaf(extra, index, treeSize, runId) : v1Leaf(extra, index);
  if (typeof leaf === "string") return { ok: false, code: "NOT_A_TRACE_LEAF", reason: leaf };
  return { ok: true, seq: index, treeSize, origin: checkpoint.origin, runId, signedBy: result.verifiedBy, leaf };
}

function notARun(reason: string): StepProofResult {
  return { ok: false, code: "NOT_A_RUN_CHECKPOINT", reason };
}

/** A format v2 leaf: a step header before the last index, the run-end at it; or what is wrong with it. */
function v2Leaf(extra: Buffer, index: number, treeSize: number, runId: string): ProvenLeaf["leaf"] | string {
  const last = index === treeSize - 1;
  if (!last) {
    const step = parseStepHeader(extra);
    if (!step.ok) return `the proven leaf is not a step header: its ${step.member || "bytes"} ${step.reason}`;
    if (step.value.seq !== index) return `the proven step header says seq ${step.value.seq}, but it is leaf ${index}`;
    return step.value;
  }
  const end = parseRunEnd(extra);
  if (!end.ok) return `the last leaf is not a run-end: its ${end.member || "bytes"} ${end.reason}`;
  if (end.value.seq !== index || end.value.step_count !== index) return `the run-end says seq ${end.value.seq}, but it is leaf ${index}`;
  if (end.value.run_id !== runId) return `the run-end is run ${end.value.run_id}'s, but the checkpoint is run ${runId}'s`;
  return { ...end.value, step_id: "", skill: "" };
}

/** A format v1 leaf: a step's content object, whose seq is its index; or what is wrong with it. */
function v1Leaf(extra: Buffer, index: number): ProvenLeaf["leaf"] | string {
  const parsed = parseStrictJson(extra);
  const content = parsed.ok ? (parsed.value as Record<string, unknown>) : undefined;
  const { step_id: stepId, skill, status, seq } = content ?? {};
  if (typeof stepId !== "string" || typeof skill !== "string" || typeof status !== "string") return "the proven leaf is not a format v1 step's content";
  if (seq !== index) return `the proven step says seq ${String(seq)}, but it is leaf ${index}`;
  return { kind: "step", step_id: stepId, skill, status };
}
