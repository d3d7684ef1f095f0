import type { ActorType } from "../glossary.js";
import { canonicalJson } from "./canonical-json.js";
import { bytesOf, type Bytes, sha256Hex } from "./digest.js";
import { isHex64, isString, isTimestamp, literal, nullable, oneOf, type ShapeProblem, shapeProblem } from "./record-shape.js";
import { parseStrictJson } from "./strict-json.js";

/**
 * The trace header of format v2 (docs/proofs.md, "Trace header"): the facts a run is created with. Its canonical
 * bytes are stored with the run and start the hash chain: h₀ = SHA-256("aos-trace-v2\n" ‖ header bytes).
 */
export const TRACE_FORMAT = "aos-trace-v2";

export interface TraceHeader {
  format: typeof TRACE_FORMAT;
  trace_id: string;
  run_id: string;
  tenant_id: string;
  agent_id: string;
  origin_system_id: string;
  actor_type: ActorType;
  actor_id: string | null;
  parent_run_id: string | null;
  goal: string;
  plan_sha256: string;
  created_at: string;
}

const ACTOR_TYPES: readonly ActorType[] = ["HUMAN", "SYSTEM", "SERVICE"];

export const HEADER_MEMBERS = {
  format: literal(TRACE_FORMAT),
  trace_id: isString,
  run_id: isString,
  tenant_id: isString,
  agent_id: isString,
  origin_system_id: isString,
  actor_type: oneOf(ACTOR_TYPES),
  actor_id: nullable(isString),
  parent_run_id: nullable(isString),
  goal: isString,
  plan_sha256: isHex64,
  created_at: isTimestamp,
};

export type Parsed<T> = { ok: true; value: T } | ({ ok: false } & ShapeProblem);

/**
 * Parses stored record bytes as I-JSON (no member twice, no lone surrogate: what a reader sees is what was hashed)
 * against the record's members: the first problem names the member.
 */
export function parseRecord<T>(bytes: Bytes, members: Parameters<typeof shapeProblem>[1]): Parsed<T> {
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) return { ok: false, member: "", reason: `not I-JSON: ${parsed.reason}` };
  const problem = shapeProblem(withFractionsMarked(parsed.value, parsed.fractionalMembers), members);
  return problem === undefined ? { ok: true, value: parsed.value as T } : { ok: false, ...problem };
}

/**
 * The record with each member whose number was written with a fraction or exponent (`1.0`, `1e0`) read as NaN, so
 * that its check, in the members' order, fails it as no integer: JSON.parse alone reads `1.0` as 1.
 */
function withFractionsMarked(value: unknown, members: readonly string[]): unknown {
  if (members.length === 0) return value;
  return { ...(value as object), ...Object.fromEntries(members.map((member) => [member, Number.NaN])) };
}

export function parseTraceHeader(bytes: Bytes): Parsed<TraceHeader> {
  const parsed = parseRecord<TraceHeader>(bytes, HEADER_MEMBERS);
  if (parsed.ok && parsed.value.trace_id !== `trace_${parsed.value.run_id}`) {
    return { ok: false, member: "trace_id", reason: `not "trace_" followed by the run id` };
  }
  return parsed;
}

/** The plan's canonical bytes and their hash, which the header carries. */
export function planBytes(plan: unknown): { bytes: Buffer; sha256: string } {
  const text = canonicalJson(plan);
  return { bytes: bytesOf(text), sha256: sha256Hex(text) };
}

export function encodeRecord(record: object): Buffer {
  return bytesOf(canonicalJson(record));
}
