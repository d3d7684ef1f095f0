import { AppError } from "../errors.js";
import { textOf } from "./digest.js";
import type { StoredStep, TraceRecord } from "./verify-trace.js";

/**
 * A proof bundle of format v2 (docs/proofs.md, "The bundle"): a run's trace as the exact bytes that were hashed,
 * each carried as a JSON string, the leaf and chain hashes stored beside them, and the signed checkpoint. Nothing
 * else: no key (a verifier brings its own), no unproven marker, so every value in it is checked.
 */
export const BUNDLE_FORMAT = "aos-proof-bundle/v2";
export const BUNDLE_FORMAT_PREFIX = "aos-proof-bundle/";

export interface BundleStep {
  header: string;
  params: string | null;
  outcome: string | null;
  error: string | null;
  leaf_hash: string;
  chain_hash: string;
}

export interface ProofBundle {
  format: typeof BUNDLE_FORMAT;
  header: string;
  plan: string;
  steps: BundleStep[];
  run_end: string | null;
  root_hash: string | null;
  checkpoint: string | null;
}

/** The bundle of a trace read from the database; its bytes are valid UTF-8 (canonical JSON always is). */
export function buildBundle(record: TraceRecord): ProofBundle {
  return {
    format: BUNDLE_FORMAT,
    header: text(record.header),
    plan: text(record.plan),
    steps: record.steps.map((step) => ({
      header: text(step.header),
      params: nullableText(step.params),
      outcome: nullableText(step.outcome),
      error: nullableText(step.error),
      leaf_hash: step.leafHash,
      chain_hash: step.chainHash,
    })),
    run_end: nullableText(record.runEnd),
    root_hash: record.rootHash,
    checkpoint: record.checkpoint,
  };
}

function text(bytes: StoredStep["header"]): string {
  const decoded = textOf(bytes);
  // Canonical JSON is always UTF-8: such bytes were changed in the database, and a bundle cannot carry them.
  if (decoded === undefined) throw new AppError("TRACE_TAMPERED", "the run's stored trace bytes are not UTF-8, so they were changed in the database: `aos proof` names where");
  return decoded;
}

function nullableText(bytes: StoredStep["header"] | null): string | null {
  return bytes === null ? null : text(bytes);
}

export type ParsedBundle = { ok: true; record: TraceRecord } | { ok: false; field: string; firstBadSeq: number | null; reason: string };

const BUNDLE_MEMBERS = ["format", "header", "plan", "steps", "run_end", "root_hash", "checkpoint"];
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a parsed v2 bundle's shape (docs/proofs.md, step 2): exactly its members, each of its type. A problem in
 * `steps[i]` is at seq i; one in `run_end` or `root_hash` at seq n, the run-end's.
 */
export function parseBundle(json: Record<string, unknown>): ParsedBundle {
  const stepCount = Array.isArray(json.steps) ? json.steps.length : null;
  const fail = (field: string, reason: string, firstBadSeq: number | null = null): ParsedBundle => ({ ok: false, field, firstBadSeq, reason });
  const extra = unexpectedMember(json, BUNDLE_MEMBERS);
  if (extra !== undefined) return fail(extra.member, extra.reason, extra.member === "run_end" || extra.member === "root_hash" ? stepCount : null);
  for (const member of ["header", "plan"]) if (typeof json[member] !== "string") return fail(member, "not a string");
  if (stepCount === null) return fail("steps", "not an array");
  const steps: StoredStep[] = [];
  for (const [index, step] of (json.steps as unknown[]).entries()) {
    const problem = stepProblem(step);
    if (problem !== undefined) return fail(`steps[${index}]${problem.member === "" ? "" : `.${problem.member}`}`, problem.reason, index);
    const { header, params, outcome, error, leaf_hash: leafHash, chain_hash: chainHash } = step as BundleStep;
    steps.push({ header, params, outcome, error, leafHash, chainHash });
  }
  if (json.run_end !== null && typeof json.run_end !== "string") return fail("run_end", "neither a string nor null", stepCount);
  if (json.root_hash !== null && !isHex(json.root_hash)) return fail("root_hash", "neither 64 lowercase hex digits nor null", stepCount);
  if (json.checkpoint !== null && typeof json.checkpoint !== "string") return fail("checkpoint", "neither a string nor null");
  return {
    ok: true,
    record: {
      header: json.header as string,
      plan: json.plan as string,
      steps,
      runEnd: json.run_end as string | null,
      rootHash: json.root_hash as string | null,
      checkpoint: json.checkpoint as string | null,
    },
  };
}

function isHex(value: unknown): boolean {
  return typeof value === "string" && HEX64.test(value);
}

/** A bundle step's members, in the order they are checked, each with what it must be. */
const STEP_SHAPE: readonly [string, (value: unknown) => boolean, string][] = [
  ["header", (value) => typeof value === "string", "not a string"],
  ...["params", "outcome", "error"].map((payload): [string, (value: unknown) => boolean, string] => [payload, (value) => value === null || typeof value === "string", "neither a string nor null"]),
  ["leaf_hash", isHex, "not 64 lowercase hex digits"],
  ["chain_hash", isHex, "not 64 lowercase hex digits"],
];

/** A step's first problem: each member in turn missing or of the wrong type, then one it should not have. */
function stepProblem(step: unknown): { member: string; reason: string } | undefined {
  if (step === null || typeof step !== "object" || Array.isArray(step)) return { member: "", reason: "not an object" };
  const object = step as Record<string, unknown>;
  for (const [member, ok, reason] of STEP_SHAPE) {
    if (!Object.hasOwn(object, member)) return { member, reason: "missing" };
    if (!ok(object[member])) return { member, reason };
  }
  for (const member in object) if (!STEP_SHAPE.some(([name]) => name === member)) return { member, reason: "not a member of this bundle" };
  return undefined;
}

function unexpectedMember(object: Record<string, unknown>, members: readonly string[]): { member: string; reason: string } | undefined {
  for (const member of members) if (!Object.hasOwn(object, member)) return { member, reason: "missing" };
  for (const member in object) if (!members.includes(member)) return { member, reason: "not a member of this bundle" };
  return undefined;
}
