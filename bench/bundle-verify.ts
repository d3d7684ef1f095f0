import { performance } from "node:perf_hooks";
import { V2_BUNDLE_FORMAT, buildBundle, parseBundle } from "../src/trace/bundle.js";
import type { NoteVerifier } from "../src/trace/signed-note.js";
import { verifyBundleText } from "../src/trace/verify-bundle.js";
import { verifyTraceRecord } from "../src/trace/verify-trace.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { percentiles, ratio } from "./support/stats.js";
import { syntheticTrace } from "./support/synthetic-trace.js";

const STEPS = 1_000;
const WARMUP = 20;
const REPS = 200;
const GOAL_MS = 20;

/** What `aos verify <bundle>` does after reading the file and loading its keys: verifyBundleText, no database. */
function verifyOnce(text: string, verifiers: readonly NoteVerifier[]): number {
  const start = performance.now();
  const verdict = verifyBundleText(text, verifiers);
  const ms = performance.now() - start;
  if (verdict.verification_status !== "VERIFIED") throw new Error(`the bench bundle did not verify: ${verdict.failure_reason}`);
  return ms;
}

/** The same work cut in three: JSON.parse, the bundle's shape (parseBundle), then verifyTraceRecord over its strings. */
function parts(text: string, verifiers: readonly NoteVerifier[]): { parseMs: number; shapeMs: number; verifyMs: number } {
  const t0 = performance.now();
  const json = JSON.parse(text) as Record<string, unknown>;
  const t1 = performance.now();
  const parsed = parseBundle(json);
  const t2 = performance.now();
  if (!parsed.ok) throw new Error(`the bench bundle does not parse: ${parsed.reason}`);
  const checked = verifyTraceRecord(parsed.record, verifiers);
  const t3 = performance.now();
  if (checked.verdict.status !== "VERIFIED") throw new Error(`the bench bundle did not verify: ${checked.verdict.failureReason}`);
  return { parseMs: t1 - t0, shapeMs: t2 - t1, verifyMs: t3 - t2 };
}

function jsonParse(text: string): number {
  const start = performance.now();
  JSON.parse(text);
  return performance.now() - start;
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  ctx.progress(`a ${STEPS}-step v2 bundle: ${WARMUP} warm-up then ${REPS} verifications interleaved with JSON.parse`);
  const trace = syntheticTrace(STEPS);
  // The trace half of a bundle (format v2: no tenant-log proof), which is what grows with the steps.
  const text = JSON.stringify({ ...buildBundle(trace.record, null), format: V2_BUNDLE_FORMAT, tenant_log: undefined }, null, 2);

  const whole: number[] = [];
  const anchor: number[] = [];
  const parse: number[] = [];
  const shape: number[] = [];
  const check: number[] = [];
  for (let i = 0; i < WARMUP + REPS; i++) {
    const json = jsonParse(text);
    const ms = verifyOnce(text, trace.verifiers);
    const split = parts(text, trace.verifiers);
    if (i < WARMUP) continue;
    anchor.push(json);
    whole.push(ms);
    parse.push(split.parseMs);
    shape.push(split.shapeMs);
    check.push(split.verifyMs);
  }

  const offline = percentiles(whole);
  const jsonAnchor = percentiles(anchor);
  const verifyTrace = percentiles(check);
  return {
    describes: {
      bundle_verify: `verifyBundleText of an aos-proof-bundle/v2 text with ${STEPS} steps (its plan of ${STEPS} steps included), already in memory, as \`aos verify\` and the SDK run it (no file read, no key loading): JSON.parse, the bundle's shape, then verifyTraceRecord over its strings and the facts it proves`,
      bundle_json_parse: "part of bundle_verify, timed in a second pass: JSON.parse of the text",
      parse_bundle: "part of bundle_verify, second pass: parseBundle, the exact members and types of the bundle and of each step",
      verify_trace: "part of bundle_verify, second pass: verifyTraceRecord over the bundle's strings (payload and leaf hashes, chain, Merkle root, Ed25519 signature)",
      json_parse: "anchor: JSON.parse of the same text",
    },
    measurements: {
      bundle_verify: offline,
      bundle_json_parse: percentiles(parse),
      parse_bundle: percentiles(shape),
      verify_trace: verifyTrace,
      verify_trace_us_per_step: { p50: Math.round((verifyTrace.p50 * 1000) / STEPS) },
    },
    anchors: { json_parse: jsonAnchor },
    ratios: {
      bundle_verify_p50_vs_json_parse_p50: ratio(offline.p50, jsonAnchor.p50),
      verify_trace_p50_vs_json_parse_p50: ratio(verifyTrace.p50, jsonAnchor.p50),
    },
    goals: [goal(`offline verify, ${STEPS} steps`, "p50", offline.p50, GOAL_MS)],
    settings: {
      steps: STEPS,
      warmup: WARMUP,
      reps: REPS,
      bundle_bytes: Buffer.byteLength(text, "utf8"),
      plan_bytes: trace.record.plan.length,
      bundle_format: "JSON.stringify(buildBundle(record), null, 2), as aos export-proof writes it",
      order: "each iteration: JSON.parse of the text (anchor), verifyBundleText (the figure), then the same work again in three timed parts",
    },
  };
}

export const bundleVerify: Benchmark = { name: "bundle-verify", needsServer: false, run };
