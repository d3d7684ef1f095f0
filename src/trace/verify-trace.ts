import { type AttestationKeys, attestationProblem } from "./attestation.js";
import { chainHasher, chainNext, genesisHash, leafHashOf } from "./chain.js";
import { type Checkpoint, checkpointOrigin, parseCheckpoint } from "./checkpoint.js";
import { type Bytes, sha256Hex, textOf } from "./digest.js";
import { merkleRootHex } from "./merkle.js";
import { disagreementWithHeader, parseRunEnd, type RunEnd } from "./run-end.js";
import { type NoteVerifier, openNote, readNote } from "./signed-note.js";
import { PAYLOADS, parseStepHeader, payloadHash, type StepHeader } from "./step-header.js";
import { parseTraceHeader, type TraceHeader } from "./trace-header.js";
import type { ProofStatus, ProofVerdict } from "./verdict.js";

/**
 * One stored step: its header's bytes and its payloads' (null when absent, pruned or withheld), and the leaf and
 * chain hashes stored beside them. Those prove nothing by themselves; they are checked, so that the first one that
 * differs from the bytes names the step that was changed.
 */
export interface StoredStep {
  header: Bytes;
  params: Bytes | null;
  outcome: Bytes | null;
  error: Bytes | null;
  leafHash: string;
  chainHash: string;
}

/** The bytes of one run's trace, as stored in the database or carried by a bundle: everything a proof checks. */
export interface TraceRecord {
  header: Bytes;
  plan: Bytes;
  steps: readonly StoredStep[];
  /** Null while the run has not ended. */
  runEnd: Bytes | null;
  /** The stored chain head after the run-end (`root_hash`); null while the run has not ended. */
  rootHash: string | null;
  /** The signed note, null until the run has ended. */
  checkpoint: string | null;
}

/** The write-time attestations stored beside the bytes, checked when this process holds the attestation keys. */
export interface StoredAttestations {
  keys: AttestationKeys;
  header: string | null;
  steps: readonly (string | null)[];
}

/** A verdict together with what was read on the way, so readers and workers use the very bytes that were checked. */
export interface CheckedTrace {
  verdict: ProofVerdict;
  /** The parsed header, when it parsed. */
  header: TraceHeader | undefined;
  /** The parsed headers of the steps that checked, in seq order. */
  steps: StepHeader[];
  runEnd: RunEnd | undefined;
  /** h₀, once the header parsed (hex). */
  genesis: string | null;
  /** Leaf and chain hashes computed for the steps that checked (hex). */
  leaves: string[];
  chain: string[];
}

/**
 * Verifies a format v2 trace (docs/proofs.md, "Verification", steps 3 to 9) from its bytes alone: every hash is
 * computed here, nothing stored is taken on trust. Stops at the first failure and names its seq and field. With
 * `attestations`, a step whose attestation does not hold fails too, so a prefix re-hashed without the key is
 * TAMPERED even before any checkpoint exists.
 */
export function verifyTraceRecord(
  record: TraceRecord,
  verifiers: readonly NoteVerifier[],
  attestations?: StoredAttestations,
): CheckedTrace {
  const state = new TraceCheck(record.steps.length);
  const header = parseTraceHeader(record.header);
  if (!header.ok) return state.fail(null, fieldOf("header", header.member), `the trace header's ${memberText(header.member)} ${header.reason}`);
  state.header = header.value;
  let head = genesisHash(record.header);
  state.genesis = head;
  const headerAttestation = attestations && attestationProblem(attestations.keys, header.value.run_id, "genesis", head, attestations.header);
  if (headerAttestation !== undefined) return state.fail(null, "header.attestation", `the trace header: ${headerAttestation}`);
  if (sha256Hex(record.plan) !== header.value.plan_sha256) return state.fail(null, "plan", "the plan does not hash to the header's plan_sha256");
  const next = chainHasher();
  for (let seq = 0; seq < record.steps.length; seq++) {
    const step = record.steps[seq] as StoredStep;
    const problem = state.checkStep(step, seq);
    if (problem !== undefined) return problem;
    head = next(head, state.leaves[seq] as string);
    if (head !== step.chainHash) {
      return seq === 0
        ? state.fail(0, "header", "seq 0: the chain does not start from this trace header (the header, or the first chain hash, was changed)")
        : state.fail(seq, `steps[${seq}].chain_hash`, `seq ${seq}: the stored chain hash does not link to the previous step`);
    }
    state.chain.push(head);
    const attested = attestations && attestationProblem(attestations.keys, header.value.run_id, seq, head, attestations.steps[seq] ?? null);
    if (attested !== undefined) return state.fail(seq, `steps[${seq}].attestation`, `seq ${seq}: ${attested}`);
  }
  if (record.runEnd === null) {
    if (record.rootHash !== null) return state.fail(null, "root_hash", "a root hash is stored, but the run has not ended");
    if (record.checkpoint !== null) return state.fail(null, "checkpoint", "a checkpoint exists, but the run has not ended");
    return state.finish("INCOMPLETE", "run not finished: the recorded prefix checks, nothing is signed yet");
  }
  return checkEnd(state, record, head, verifiers);
}

/** Steps 7 to 9: the run-end, the checkpoint's body against the computed tree, then whose signature it carries. */
function checkEnd(state: TraceCheck, record: TraceRecord, stepsHead: string, verifiers: readonly NoteVerifier[]): CheckedTrace {
  const header = state.header as TraceHeader;
  const n = record.steps.length;
  const runEnd = parseRunEnd(record.runEnd as Bytes);
  if (!runEnd.ok) return state.fail(n, fieldOf("run_end", runEnd.member), `the run-end's ${memberText(runEnd.member)} ${runEnd.reason}`);
  if (runEnd.value.seq !== n || runEnd.value.step_count !== n) {
    // The first member that is wrong is named, in the record's order: seq before step_count.
    const field = runEnd.value.seq !== n ? "run_end.seq" : "run_end.step_count";
    return state.fail(n, field, `the run-end counts ${runEnd.value.step_count} steps at seq ${runEnd.value.seq}, but the trace has ${n}`);
  }
  const endLeaf = leafHashOf(record.runEnd as Bytes);
  const head = chainNext(stepsHead, endLeaf);
  if (head !== record.rootHash) return state.fail(n, "run_end", `seq ${n}: the run-end does not hash to the stored root hash (the run-end, or the root hash, was changed)`);
  const differs = disagreementWithHeader(runEnd.value, header, sha256Hex(header.goal));
  if (differs !== undefined) return state.fail(n, `run_end.${differs}`, `the run-end's ${differs} is not the trace header's`);
  state.runEnd = runEnd.value;
  state.leaves.push(endLeaf);
  state.chain.push(head);
  state.rootHash = head;
  state.merkleRoot = merkleRootHex(state.leaves);
  if (record.checkpoint === null) return state.fail(null, "checkpoint", "the run has ended but its trace has no checkpoint");
  const note = readNote(record.checkpoint);
  const body = note.ok ? parseCheckpoint(note.text) : note;
  if (!body.ok) return state.fail(null, "checkpoint", `the checkpoint is malformed: ${body.reason}`);
  // AOS signs a run's checkpoint once: a line added beside its signature is a claim nobody made.
  if (note.ok && note.signers.length !== 1) {
    return state.fail(null, "checkpoint", `a run checkpoint carries exactly one signature, and this one carries ${note.signers.length}`);
  }
  const checkpoint = body.checkpoint;
  state.checkpoint = checkpoint;
  if (checkpoint.format !== "aos-trace-v2") return state.fail(null, "checkpoint", "the checkpoint is not a format v2 checkpoint");
  // The origin names this run under the name that signed it, exactly: a checkpoint made for another log says so.
  const origin = checkpointOrigin((note.ok && note.signers[0]?.name) || "", header.run_id);
  if (checkpoint.origin !== origin) {
    return state.fail(null, "checkpoint", `the checkpoint's origin is "${checkpoint.origin}", not "${origin}" (its signer's log for this run)`);
  }
  if (checkpoint.treeSize !== n + 1) {
    const what = checkpoint.treeSize > n + 1 ? "rows are missing" : "rows were added";
    const reason = `the checkpoint covers ${checkpoint.treeSize} leaves but the trace has ${n + 1}: ${what}`;
    return state.fail(Math.min(checkpoint.treeSize, n + 1), "checkpoint", reason);
  }
  if (checkpoint.merkleRoot.toString("hex") !== state.merkleRoot) return state.fail(null, "checkpoint", "the Merkle root of the leaves differs from the checkpoint's");
  if (checkpoint.chainHead !== head) return state.fail(null, "checkpoint", "the chain head differs from the checkpoint's");
  state.signingKeys = note.ok ? note.signers.map(({ name, keyId }) => `${name}+${keyId}`) : [];
  return checkSignature(state, record.checkpoint, verifiers);
}

function checkSignature(state: TraceCheck, note: string, verifiers: readonly NoteVerifier[]): CheckedTrace {
  const opened = openNote(note, verifiers);
  if (opened.ok) {
    state.signatureValid = true;
    state.signedBy = opened.signatures.filter((s) => s.status === "verified").map((s) => `${s.name}+${s.keyId}`);
    return state.finish("VERIFIED", null);
  }
  if (opened.code === "UNKNOWN_KEY") {
    const reason = `the checkpoint is signed by ${state.signingKeys.join(", ")}, and none of them is a trusted key`;
    return state.finish("UNTRUSTED_KEY", reason);
  }
  state.signatureValid = false;
  return state.fail(null, "checkpoint", `checkpoint: ${opened.reason}`);
}

/** How a record's problem reads: "the step header's member "seq" is …", or for the record itself "… bytes are …". */
function memberText(member: string): string {
  return member === "" ? "bytes:" : `member "${member}" is`;
}

/** The field a record's problem names: the record itself, or one of its members. */
function fieldOf(record: string, member: string): string {
  return member === "" ? record : `${record}.${member}`;
}

/** What a verification has established so far; `fail` and `finish` turn it into the result. */
class TraceCheck {
  header: TraceHeader | undefined;
  genesis: string | null = null;
  readonly steps: StepHeader[] = [];
  runEnd: RunEnd | undefined;
  readonly leaves: string[] = [];
  readonly chain: string[] = [];
  rootHash: string | null = null;
  merkleRoot: string | null = null;
  checkpoint: Checkpoint | null = null;
  signatureValid: boolean | null = null;
  signedBy: string[] = [];
  signingKeys: string[] = [];
  readonly prunedSeqs: number[] = [];

  constructor(private readonly stepCount: number) {}

  /** Step 5 for one step: its header, its payloads against their hashes, then its leaf. */
  checkStep(step: StoredStep, seq: number): CheckedTrace | undefined {
    // Decoded once, for parsing and for the leaf hash (a string hashes as its UTF-8 bytes).
    const text = textOf(step.header);
    if (text === undefined) return this.fail(seq, `steps[${seq}].header`, `seq ${seq}: the step header's bytes: not UTF-8`);
    const parsed = parseStepHeader(text);
    if (!parsed.ok) return this.fail(seq, fieldOf(`steps[${seq}].header`, parsed.member), `seq ${seq}: the step header's ${memberText(parsed.member)} ${parsed.reason}`);
    const header = parsed.value;
    if (header.seq !== seq) return this.fail(seq, `steps[${seq}].header.seq`, `seq ${seq}: the step header at this position says seq ${header.seq}`);
    let pruned = false;
    for (const payload of PAYLOADS) {
      const expected = payloadHash(header, payload);
      const bytes = step[payload];
      if (expected === null) {
        if (bytes !== null) return this.fail(seq, `steps[${seq}].${payload}`, `seq ${seq}: a ${payload} payload where the step header records none`);
      } else if (bytes === null) {
        pruned = true;
      } else if (sha256Hex(bytes) !== expected) {
        return this.fail(seq, `steps[${seq}].${payload}`, `seq ${seq}: the ${payload} payload does not hash to the step header's ${payload}_sha256 (a recorded value was changed)`);
      }
    }
    const leaf = leafHashOf(text);
    if (leaf !== step.leafHash) return this.fail(seq, `steps[${seq}].header`, `seq ${seq}: the step header does not hash to its stored leaf hash (the header, or the leaf hash, was changed)`);
    if (pruned) this.prunedSeqs.push(seq);
    this.steps.push(header);
    this.leaves.push(leaf);
    return undefined;
  }

  fail(firstBadSeq: number | null, field: string, reason: string): CheckedTrace {
    return this.result("TAMPERED", reason, firstBadSeq, field);
  }

  finish(status: Exclude<ProofStatus, "TAMPERED" | "UNSUPPORTED">, reason: string | null): CheckedTrace {
    return this.result(status, reason, null, null);
  }

  private result(status: ProofStatus, failureReason: string | null, firstBadSeq: number | null, field: string | null): CheckedTrace {
    return {
      verdict: {
        format: "aos-trace-v2",
        status,
        failureReason,
        firstBadSeq,
        field,
        chainLength: this.leaves.length,
        stepCount: this.stepCount,
        rootHash: this.rootHash ?? this.chain.at(-1) ?? null,
        merkleRoot: this.merkleRoot,
        signatureValid: this.signatureValid,
        signedBy: this.signedBy,
        signingKeys: this.signingKeys,
        checkpoint: this.checkpoint,
        prunedSeqs: this.prunedSeqs,
        notCovered: null,
      },
      header: this.header,
      steps: this.steps,
      runEnd: this.runEnd,
      genesis: this.genesis,
      leaves: this.leaves,
      chain: this.chain,
    };
  }
}
