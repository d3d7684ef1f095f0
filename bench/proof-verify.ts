import { hash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { attestationProblem } from "../src/trace/attestation.js";
import { chainNext, genesisHash, leafHashOf } from "../src/trace/chain.js";
import { parseCheckpoint } from "../src/trace/checkpoint.js";
import { type Bytes, sha256Hex, textOf } from "../src/trace/digest.js";
import { merkleRootHex } from "../src/trace/merkle.js";
import { disagreementWithHeader, parseRunEnd } from "../src/trace/run-end.js";
import { openNote, readNote } from "../src/trace/signed-note.js";
import { PAYLOADS, parseStepHeader, payloadHash, type StepHeader } from "../src/trace/step-header.js";
import { parseTraceHeader, type TraceHeader } from "../src/trace/trace-header.js";
import { verifyTraceRecord } from "../src/trace/verify-trace.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goalAtLeast } from "./support/benchmark.js";
import { collectGarbage, ratio, type Spread, spread } from "./support/stats.js";
import { type SyntheticTrace, syntheticTrace } from "./support/synthetic-trace.js";

const STEPS = 100_000;
const REPS = 5;
const GOAL_PCT_OF_SHA = 50;
const LEAF_PREFIX = Buffer.from([0x00]);
const GENESIS_PREFIX = Buffer.from("aos-trace-v2\n", "utf8");
/** The phases verifyTraceRecord runs, in its order; their sum is set beside `verify`. */
const PHASES = ["trace_header_and_plan", "step_header_parse", "payload_hashes", "leaf_hashes", "chain", "run_end", "merkle_root", "checkpoint"];

/** What verifyTraceRecord computes on the way, made beforehand so each phase can be timed alone over the same rows. */
interface Prepared {
  header: TraceHeader;
  genesis: string;
  /** Each step header's text (UTF-8 decoded) and parsed value. */
  headerTexts: string[];
  headers: StepHeader[];
  leaves: string[];
  /** Every byte string verification hashes, as it hashes it (the step headers and the run-end with their 0x00 prefix). */
  storedValues: Buffer[];
  storedBytes: number;
  /** One Buffer per step: its header (with the 0x00 prefix) and its payloads, concatenated; then the trace-level values. */
  perStep: Buffer[];
  /** The trace header (with its genesis prefix), the plan and the run-end (with its 0x00 prefix): the first three of storedValues. */
  traceLevel: Buffer[];
}

function prepare({ record }: SyntheticTrace): Prepared {
  const parsedHeader = parseTraceHeader(record.header);
  if (!parsedHeader.ok) throw new Error("the synthetic trace header does not parse");
  const headerTexts = record.steps.map((step) => textOf(step.header) as string);
  const headers = headerTexts.map((text) => JSON.parse(text) as StepHeader);
  const leaves = record.steps.map((step) => leafHashOf(step.header));
  const present = (bytes: Bytes | null): Buffer[] => (bytes === null ? [] : [Buffer.from(bytes)]);
  const traceLevel = [
    Buffer.concat([GENESIS_PREFIX, Buffer.from(record.header)]),
    Buffer.from(record.plan),
    Buffer.concat([LEAF_PREFIX, Buffer.from(record.runEnd as Bytes)]),
  ];
  const stepValues = record.steps.map((step) => [
    Buffer.concat([LEAF_PREFIX, Buffer.from(step.header)]),
    ...present(step.params),
    ...present(step.outcome),
    ...present(step.error),
  ]);
  const storedValues = [...traceLevel, ...stepValues.flat()];
  return {
    header: parsedHeader.value,
    genesis: genesisHash(record.header),
    headerTexts,
    headers,
    leaves,
    storedValues,
    storedBytes: storedValues.reduce((sum, value) => sum + value.length, 0),
    perStep: [...traceLevel, ...stepValues.map((values) => Buffer.concat(values))],
    traceLevel,
  };
}

/**
 * verifyTraceRecord cut into its phases, each run alone over the same stored bytes with src's own functions. Each
 * returns something derived from every row, so none can be optimised away.
 */
function work(trace: SyntheticTrace, prepared: Prepared): Record<string, () => unknown> {
  const { record, verifiers, attestations } = trace;
  const { steps } = record;
  return {
    verify: () => verifyTraceRecord(record, verifiers),
    // Anchors: SHA-256 of the same stored bytes, one-shot with hex output (Node's fastest per-value path).
    raw_sha256: () => prepared.storedValues.map((value) => hash("sha256", value, "hex")),
    raw_sha256_per_step: () => prepared.perStep.map((value) => hash("sha256", value, "hex")),
    raw_sha256_trace_level: () => prepared.traceLevel.map((value) => hash("sha256", value, "hex")),
    // Phases.
    trace_header_and_plan: () => {
      const header = parseTraceHeader(record.header);
      return [header.ok, genesisHash(record.header), sha256Hex(record.plan)];
    },
    step_header_parse: () => steps.map((step) => parseStepHeader(step.header).ok),
    payload_hashes: () =>
      steps.map((step, seq) => {
        const header = prepared.headers[seq] as StepHeader;
        let same = true;
        for (const payload of PAYLOADS) {
          const bytes = step[payload];
          if (bytes !== null) same &&= sha256Hex(bytes) === payloadHash(header, payload);
        }
        return same;
      }),
    leaf_hashes: () => steps.map((step) => leafHashOf(step.header) === step.leafHash),
    chain: () =>
      steps.reduce((head, step, seq) => {
        const next = chainNext(head, prepared.leaves[seq] as string);
        return next === step.chainHash ? next : "";
      }, prepared.genesis),
    run_end: () => {
      const runEnd = parseRunEnd(record.runEnd as Bytes);
      const head = chainNext(steps.at(-1)?.chainHash as string, leafHashOf(record.runEnd as Bytes));
      return runEnd.ok && head === record.rootHash && disagreementWithHeader(runEnd.value, prepared.header, sha256Hex(prepared.header.goal));
    },
    merkle_root: () => merkleRootHex([...prepared.leaves, leafHashOf(record.runEnd as Bytes)]),
    checkpoint: () => {
      const note = readNote(record.checkpoint as string);
      const body = note.ok ? parseCheckpoint(note.text) : note;
      return [body.ok, openNote(record.checkpoint as string, verifiers).ok];
    },
    // Parts of step_header_parse, and references that are not phases.
    utf8_decode: () => steps.map((step) => textOf(step.header)),
    json_parse: () => prepared.headerTexts.map((text) => JSON.parse(text)),
    parse_from_text: () => prepared.headerTexts.map((text) => parseStepHeader(text).ok),
    reference_buffer_to_string: () => steps.map((step) => (step.header as Buffer).toString("utf8")),
    // What `aos proof` adds on a host holding the signing key; not part of the goal.
    verify_with_attestations: () => verifyTraceRecord(record, verifiers, attestations),
    attestations: () =>
      prepared.headers.map((_, seq) => attestationProblem(attestations.keys, prepared.header.run_id, seq, steps[seq]?.chainHash as string, attestations.steps[seq] ?? null)),
  };
}

function time(run: () => unknown): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

/** Every figure once per round, each after a full collection; the first round warms up and is discarded. */
function measureRounds(figures: Record<string, () => unknown>): Record<string, Spread> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(figures).map((name) => [name, []]));
  for (let round = 0; round <= REPS; round++) {
    for (const [name, figure] of Object.entries(figures)) {
      collectGarbage();
      const ms = time(figure);
      if (round > 0) samples[name]?.push(ms);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, ms]) => [name, spread(ms)]));
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  ctx.progress(`building a ${STEPS.toLocaleString("en")}-step v2 trace with buildTraceStep and finalizeRun's run-end`);
  const trace = syntheticTrace(STEPS);
  const checked = verifyTraceRecord(trace.record, trace.verifiers, trace.attestations);
  if (checked.verdict.status !== "VERIFIED") throw new Error(`the synthetic trace did not verify: ${checked.verdict.failureReason}`);
  const prepared = prepare(trace);
  const figures = work(trace, prepared);
  ctx.progress(`${REPS} rounds (after one discarded) of verifyTraceRecord, the SHA-256 anchors and each phase alone`);
  const spreads = measureRounds(figures);
  const median = (name: string) => spreads[name]?.median ?? Number.NaN;
  const perSecond = (name: string) => Math.round(STEPS / (median(name) / 1000));
  const pctOf = (anchor: string) => Math.round((median(anchor) / median("verify")) * 1000) / 10;
  const { verify, raw_sha256, raw_sha256_per_step, raw_sha256_trace_level, verify_with_attestations, ...breakdown } = spreads;
  // The same share without the three trace-level values (the plan is most of their bytes) on either side.
  const stepsOnlyPct =
    Math.round(((median("raw_sha256") - median("raw_sha256_trace_level")) / (median("verify") - median("trace_header_and_plan"))) * 1000) / 10;
  const headerBytes = trace.record.steps.reduce((sum, step) => sum + step.header.length, 0);
  const payloadBytes = prepared.storedBytes - headerBytes - STEPS - prepared.traceLevel.reduce((sum, value) => sum + value.length, 0);
  return {
    describes: {
      verify: `verifyTraceRecord over a finished ${STEPS}-step aos-trace-v2 trace as the database returns it (every byte string a Buffer), without attestations: trace header and plan hash, every step header parsed and shape-checked, every payload hashed, every leaf and chain hash, the run-end, the Merkle root over ${STEPS + 1} leaves, the checkpoint and its Ed25519 signature; ms per whole trace`,
      raw_sha256: "anchor: SHA-256 of each byte string verification hashes, as it hashes it (the trace header with its genesis prefix, the plan, each step header with its 0x00 prefix, each present payload, the run-end with its 0x00 prefix), prepared beforehand, one crypto.hash('sha256', bytes, 'hex') each: the stored bytes' hashing any verifier must do, and nothing else (no decoding or parsing, none of the 2n+1 chain and Merkle node hashes a verifier also cannot avoid)",
      raw_sha256_trace_level: "part of raw_sha256: the trace header, the plan and the run-end alone (three values, most of it the plan's bytes); with trace_header_and_plan it gives the steps-only share",
      raw_sha256_per_step: "second anchor (not the goal's): the same bytes with each step's concatenated into one value (header, params, outcome), so one hash per step instead of three; shows the per-call share of raw_sha256",
      trace_header_and_plan: "phase: parseTraceHeader, h₀, and SHA-256 of the plan bytes (the plan holds every step, so it is about as large as all params together)",
      step_header_parse: "phase: parseStepHeader of every stored header: strict UTF-8 decode (TextDecoder), JSON.parse, and the exact shape check of its 19 members (two timestamps, three hex hashes, the decision object)",
      payload_hashes: "phase: SHA-256 (hex) of every present payload, compared with its hash in the step header",
      leaf_hashes: "phase: leafHashOf of every step header (Buffer.concat with 0x00, then SHA-256 hex), compared with the stored leaf hash",
      chain: "phase: chainNext over every leaf from h₀ (hex concat, hex decode, SHA-256 of 64 bytes, hex), compared with the stored chain hash",
      run_end: "phase: the run-end parsed and shape-checked, its leaf and chain hash, its members against the header's",
      merkle_root: `phase: merkleRootHex over the ${STEPS + 1} hex leaves (hex decode into one reused buffer, one-shot SHA-256 per node)`,
      checkpoint: "phase: readNote and parseCheckpoint, then openNote: one Ed25519 verification",
      utf8_decode: "part of step_header_parse: textOf (strict TextDecoder) of every header Buffer",
      json_parse: "part of step_header_parse: JSON.parse of every header's text",
      parse_from_text: "part of step_header_parse: parseStepHeader of the already decoded text (JSON.parse + shape check); minus json_parse, it is the shape check",
      reference_buffer_to_string: "reference, not a phase: Buffer#toString('utf8') of every header (Node's non-validating decode), beside utf8_decode",
      verify_with_attestations: "not in the goal: verifyTraceRecord with the stored write-time attestations and their key, as `aos proof` runs on a host holding the signing key (one HMAC-SHA256 more per row)",
      attestations: "part of verify_with_attestations: attestationProblem for every row (parse the stored value, HMAC-SHA256, timingSafeEqual)",
    },
    measurements: {
      verify: { ...verify, steps_per_second: perSecond("verify") },
      verify_with_attestations: { ...verify_with_attestations, steps_per_second: perSecond("verify_with_attestations") },
      breakdown_ms: breakdown,
      // The phases verifyTraceRecord runs, added up: close to `verify` when the breakdown misses nothing big.
      breakdown_sum: { ms: Math.round(PHASES.reduce((sum, name) => sum + median(name), 0)) },
      shape_check_ms: { derived: Math.round(median("parse_from_text") - median("json_parse")) },
      verify_rate_vs_raw_sha256_rate: { percent: pctOf("raw_sha256") },
      verify_rate_vs_raw_sha256_per_step_rate: { percent: pctOf("raw_sha256_per_step") },
      // Derived: (raw_sha256 − raw_sha256_trace_level) / (verify − trace_header_and_plan), the steps' part alone.
      steps_only_verify_rate_vs_raw_sha256_rate: { percent: stepsOnlyPct },
    },
    anchors: {
      raw_sha256: {
        ...raw_sha256,
        steps_per_second: perSecond("raw_sha256"),
        values_hashed: prepared.storedValues.length,
        mb_per_second: Math.round(prepared.storedBytes / 1e3 / median("raw_sha256")),
      },
      raw_sha256_per_step: {
        ...raw_sha256_per_step,
        steps_per_second: perSecond("raw_sha256_per_step"),
        values_hashed: prepared.perStep.length,
        mb_per_second: Math.round(prepared.storedBytes / 1e3 / median("raw_sha256_per_step")),
      },
      raw_sha256_trace_level: { ...raw_sha256_trace_level, bytes: prepared.traceLevel.reduce((sum, value) => sum + value.length, 0) },
    },
    ratios: {
      verify_vs_raw_sha256: ratio(median("verify"), median("raw_sha256")),
      verify_vs_raw_sha256_per_step: ratio(median("verify"), median("raw_sha256_per_step")),
      step_header_parse_vs_raw_sha256: ratio(median("step_header_parse"), median("raw_sha256")),
      chain_vs_raw_sha256: ratio(median("chain"), median("raw_sha256")),
      merkle_root_vs_raw_sha256: ratio(median("merkle_root"), median("raw_sha256")),
    },
    goals: [goalAtLeast("verify rate vs raw SHA-256 rate", "median", pctOf("raw_sha256"), GOAL_PCT_OF_SHA)],
    settings: {
      steps: STEPS,
      reps: REPS,
      warmup_rounds: 1,
      stored_bytes_hashed: prepared.storedBytes,
      step_header_bytes_per_step: Math.round(headerBytes / STEPS),
      payload_bytes_per_step: Math.round(payloadBytes / STEPS),
      plan_bytes: trace.record.plan.length,
      step: "one http_call attempt: params (URL, method, headers with a redacted secret, a JSON body) and a JSON response, no error payload; the plan holds all the steps",
      order: `each round runs every figure once, each after a full garbage collection: ${Object.keys(figures).join(", ")}`,
    },
  };
}

export const proofVerify: Benchmark = { name: "proof-verify", needsServer: false, run };
