import { performance } from "node:perf_hooks";
import { buildBundle, parseBundle } from "../src/trace/bundle.js";
import { verifyTrace } from "../src/trace/verify-trace.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { percentiles, ratio } from "./support/stats.js";
import { syntheticTrace } from "./support/synthetic-trace.js";

const STEPS = 1_000;
const WARMUP = 20;
const REPS = 200;
const GOAL_MS = 20;

/** What `aos verify <bundle>` does after reading the file: strict parse, then every check, no database. */
function verifyBundle(text: string, verifiers: Parameters<typeof verifyTrace>[1]): { parseMs: number; verifyMs: number } {
  const t0 = performance.now();
  const parsed = parseBundle(text);
  const t1 = performance.now();
  if (!parsed.ok) throw new Error(`the bench bundle does not parse: ${parsed.reason}`);
  const verdict = verifyTrace(parsed.evidence, verifiers);
  const t2 = performance.now();
  if (verdict.status !== "VERIFIED") throw new Error(`the bench bundle did not verify: ${verdict.failureReason}`);
  return { parseMs: t1 - t0, verifyMs: t2 - t1 };
}

function jsonParse(text: string): number {
  const start = performance.now();
  JSON.parse(text);
  return performance.now() - start;
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  ctx.progress(`a ${STEPS}-step bundle: ${WARMUP} warm-up then ${REPS} verifications interleaved with JSON.parse`);
  const trace = syntheticTrace(STEPS);
  const { evidence } = trace;
  const text = JSON.stringify(
    buildBundle({
      header: evidence.header,
      runStatus: "succeeded",
      finished: true,
      traceStatus: "completed",
      storedPlanHash: evidence.storedPlanHash,
      storedRootHash: evidence.storedRootHash,
      storedMerkleRoot: evidence.storedMerkleRoot,
      storedTreeSize: evidence.storedTreeSize,
      steps: evidence.steps,
      checkpointNote: evidence.checkpointNote,
      verificationKeys: [trace.verifierKey],
    }),
    null,
    2,
  );

  const whole: number[] = [];
  const parse: number[] = [];
  const check: number[] = [];
  const anchor: number[] = [];
  for (let i = 0; i < WARMUP + REPS; i++) {
    const json = jsonParse(text);
    const { parseMs, verifyMs } = verifyBundle(text, trace.verifiers);
    if (i < WARMUP) continue;
    anchor.push(json);
    parse.push(parseMs);
    check.push(verifyMs);
    whole.push(parseMs + verifyMs);
  }

  const offline = percentiles(whole);
  const jsonAnchor = percentiles(anchor);
  return {
    describes: {
      bundle_verify: `parseBundle + verifyTrace of an aos-proof-bundle/v1 text with ${STEPS} steps, already in memory (no file read, no key loading)`,
      parse_bundle: "parseBundle alone: JSON.parse, the strict zod schema, and evidence built from it (Dates from timestamps)",
      verify_trace: "verifyTrace alone on the parsed evidence: leaves from canonical JSON, chain, Merkle root, Ed25519 signature",
      json_parse: "anchor: JSON.parse of the same text",
    },
    measurements: { bundle_verify: offline, parse_bundle: percentiles(parse), verify_trace: percentiles(check) },
    anchors: { json_parse: jsonAnchor },
    ratios: {
      bundle_verify_p50_vs_json_parse_p50: ratio(offline.p50, jsonAnchor.p50),
      parse_bundle_p50_vs_json_parse_p50: ratio(percentiles(parse).p50, jsonAnchor.p50),
    },
    goals: [goal(`offline verify, ${STEPS} steps`, "p50", offline.p50, GOAL_MS)],
    settings: {
      steps: STEPS,
      warmup: WARMUP,
      reps: REPS,
      bundle_bytes: Buffer.byteLength(text, "utf8"),
      bundle_format: "JSON.stringify(bundle, null, 2), as aos export-proof writes it",
      order: "each iteration: JSON.parse of the text, then parseBundle + verifyTrace",
    },
  };
}

export const bundleVerify: Benchmark = { name: "bundle-verify", needsServer: false, run };
