import { AppError } from "../errors.js";
import { textOf } from "./digest.js";
import type { TenantLogProof } from "./verify-tenant-log.js";
import type { StoredStep, TraceRecord } from "./verify-trace.js";

/**
 * A proof bundle of format v3 (docs/proofs.md, "The bundle"): a run's trace as the exact bytes that were hashed,
 * each carried as a JSON string, the leaf and chain hashes stored beside them, the signed checkpoint, and — for a
 * finished run — its place in its tenant's log (`tenant_log`). Nothing else: no key (a verifier brings its own), no
 * unproven marker, so every value in it is checked. Format v2 is v3 without `tenant_log`; it still verifies, and
 * its verdict says what it leaves out.
 */
export const BUNDLE_FORMAT = "aos-proof-bundle/v3";
export const V2_BUNDLE_FORMAT = "aos-proof-bundle/v2";
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
  /** Null exactly while the run has not ended. */
  tenant_log: TenantLogProof | null;
}

/** The bundle of a trace read from the database; its bytes are valid UTF-8 (canonical JSON always is). */
export function buildBundle(record: TraceRecord, tenantLog: TenantLogProof | null): ProofBundle {
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
    tenant_log: tenantLog,
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

export type ParsedBundle =
  | { ok: true; record: TraceRecord; /** undefined in a v2 bundle, which has no such member */ tenantLog: TenantLogProof | null | undefined }
  | { ok: false; field: string; firstBadSeq: number | null; reason: string };

const V2_MEMBERS = ["format", "header", "plan", "steps", "run_end", "root_hash", "checkpoint"];
const V3_MEMBERS = [...V2_MEMBERS, "tenant_log"];
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a parsed v3 (or v2) bundle's shape (docs/proofs.md, step 2): exactly its members, each of its type. A
 * problem in `steps[i]` is at seq i; one in `run_end` or `root_hash` at seq n, the run-end's.
 */
export function parseBundle(json: Record<string, unknown>): ParsedBundle {
  const stepCount = Array.isArray(json.steps) ? json.steps.length : null;
  const fail = (field: string, reason: string, firstBadSeq: number | null = null): ParsedBundle => ({ ok: false, field, firstBadSeq, reason });
  const v3 = json.format === BUNDLE_FORMAT;
  const extra = unexpectedMember(json, v3 ? V3_MEMBERS : V2_MEMBERS);
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
  const tenantLog = v3 ? tenantLogProblem(json.tenant_log) : undefined;
  if (tenantLog !== undefined) return fail(`tenant_log${tenantLog.member === "" ? "" : `.${tenantLog.member}`}`, tenantLog.reason);
  return {
    ok: true,
    tenantLog: v3 ? (json.tenant_log as TenantLogProof | null) : undefined,
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

/** A tenant checkpoint with a hundred cosignatures is some 10 kB: a larger one is padding, refused before any parse. */
const MAX_TENANT_CHECKPOINT_CHARS = 64 * 1024;

const TENANT_LOG_SHAPE: readonly [string, (value: unknown) => boolean, string][] = [
  ["index", (value) => Number.isSafeInteger(value) && (value as number) >= 0, "not a whole number ≥ 0"],
  ["entry", (value) => typeof value === "string", "not a string"],
  ["inclusion_proof", (value) => Array.isArray(value) && value.length <= 64 && value.every(isHex), "not a list of at most 64 hashes of 64 lowercase hex digits"],
  ["checkpoint", (value) => typeof value === "string" && value.length <= MAX_TENANT_CHECKPOINT_CHARS, `not a string of at most ${64 * 1024} characters`],
  ["timestamp", (value) => value === null || (typeof value === "string" && value.length <= MAX_TENANT_CHECKPOINT_CHARS && /^[A-Za-z0-9+/]*={0,2}$/.test(value)), "neither standard base64 of at most 64 KiB nor null"],
];

/** The `tenant_log` member's first problem, or undefined when it is null or has exactly its shape. */
function tenantLogProblem(value: unknown): { member: string; reason: string } | undefined {
  if (value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) return { member: "", reason: "neither an object nor null" };
  const object = value as Record<string, unknown>;
  for (const [member, ok, reason] of TENANT_LOG_SHAPE) {
    if (!Object.hasOwn(object, member)) return { member, reason: "missing" };
    if (!ok(object[member])) return { member, reason };
  }
  for (const member in object) if (!TENANT_LOG_SHAPE.some(([name]) => name === member)) return { member, reason: "not a member of this bundle" };
  return undefined;
}
