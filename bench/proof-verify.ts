import { createHash, hash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { canonicalJson } from "../src/trace/canonical-json.js";
import { verifyCheckpoint } from "../src/trace/checkpoint.js";
import { merkleRoot } from "../src/trace/merkle.js";
import { contentOf } from "../src/trace/step-content.js";
import { chainGenesis, chainNext, type StepContent } from "../src/trace/step-hash.js";
import { verifyTrace } from "../src/trace/verify-trace.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goalAtLeast } from "./support/benchmark.js";
import { collectGarbage, ratio, type Spread, spread } from "./support/stats.js";
import { type SyntheticTrace, syntheticTrace } from "./support/synthetic-trace.js";

const STEPS = 100_000;
const REPS = 5;
const GOAL_PCT_OF_SHA = 70;
const LEAF_PREFIX = Buffer.from([0x00]);
const PHASES = ["content_of", "canonical_json", "utf8_encode", "leaf_sha256_hex", "chain", "merkle_root", "checkpoint"];

/** What verifyTrace does, cut into its phases so each can be timed alone over the same rows. */
interface Prepared {
  contents: StepContent[];
  texts: string[];
  bytes: Buffer[];
  /** 0x00 ‖ JCS(content): exactly what a leaf hash covers. */
  leafInputs: Buffer[];
}

function prepare(trace: SyntheticTrace): Prepared {
  const contents = trace.evidence.steps.map((step) => contentOf(step));
  const texts = contents.map((content) => canonicalJson(content));
  const bytes = texts.map((text) => Buffer.from(text, "utf8"));
  return { contents, texts, bytes, leafInputs: bytes.map((b) => Buffer.concat([LEAF_PREFIX, b])) };
}

/** Each phase returns something derived from every row, so none can be optimised away. */
function phases(trace: SyntheticTrace, prepared: Prepared): Record<string, () => unknown> {
  const { steps, header, checkpointNote } = trace.evidence;
  return {
    // The anchor: SHA-256(0x00 ‖ JCS(content)) of every leaf, made beforehand, by Node's fastest per-leaf path
    // (one-shot, hex out: a Buffer per digest costs more than the hex string).
    leaf_sha256: () => prepared.leafInputs.map((input) => hash("sha256", input, "hex")),
    sha256_stream: () => prepared.leafInputs.reduce((sha, input) => sha.update(input), createHash("sha256")).digest(),
    verify: () => verifyTrace(trace.evidence, trace.verifiers),
    content_of: () => steps.map((step) => contentOf(step)),
    canonical_json: () => prepared.contents.map((content) => canonicalJson(content)),
    utf8_encode: () => prepared.texts.map((text) => Buffer.from(text, "utf8")),
    leaf_sha256_hex: () => prepared.bytes.map((bytes) => createHash("sha256").update(LEAF_PREFIX).update(bytes).digest("hex")),
    chain: () => steps.reduce((head, step) => chainNext(head, step.leafHash), chainGenesis(header)),
    merkle_root: () => merkleRoot(steps.map((step) => Buffer.from(step.leafHash, "hex"))),
    checkpoint: () => verifyCheckpoint(checkpointNote ?? "", trace.verifiers),
    reference_json_stringify: () => prepared.contents.map((content) => JSON.stringify(content)),
  };
}

function time(work: () => unknown): number {
  const start = performance.now();
  work();
  return performance.now() - start;
}

/** Every figure once per round, each after a full collection; the first round warms up and is discarded. */
function measureRounds(work: Record<string, () => unknown>): Record<string, Spread> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(work).map((name) => [name, []]));
  for (let round = 0; round <= REPS; round++) {
    for (const [name, phase] of Object.entries(work)) {
      collectGarbage();
      const ms = time(phase);
      if (round > 0) samples[name]?.push(ms);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, ms]) => [name, spread(ms)]));
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  ctx.progress(`building a ${STEPS.toLocaleString("en")}-step trace with buildTraceStep`);
  const trace = syntheticTrace(STEPS);
  const verdict = verifyTrace(trace.evidence, trace.verifiers);
  if (verdict.status !== "VERIFIED") throw new Error(`the synthetic trace did not verify: ${verdict.failureReason}`);
  const prepared = prepare(trace);
  const canonicalBytesTotal = prepared.bytes.reduce((sum, bytes) => sum + bytes.length, 0);

  const work = phases(trace, prepared);
  ctx.progress(`${REPS} rounds (after one discarded) of verifyTrace, the SHA-256 anchor and each phase alone`);
  const spreads = measureRounds(work);
  const median = (name: string) => spreads[name]?.median ?? Number.NaN;
  const perSecond = (name: string) => Math.round(STEPS / (median(name) / 1000));
  const pctOfSha = Math.round((median("leaf_sha256") / median("verify")) * 1000) / 10;
  const { verify, leaf_sha256, sha256_stream, ...breakdown } = spreads;
  return {
    describes: {
      verify: `verifyTrace over a finished ${STEPS}-step trace with its signed checkpoint: every leaf recomputed from content, the chain, the Merkle root, the signature; ms per whole trace`,
      leaf_sha256: "anchor: SHA-256 of every leaf's canonical bytes (0x00 ‖ JCS(content), made beforehand), crypto.hash one-shot with hex output; no JSON work, no chain, no Merkle tree",
      sha256_stream: "anchor: the same bytes through a single SHA-256 object: the hash's throughput without per-leaf set-up",
      content_of: "breakdown: contentOf for every row (object copy and two toISOString calls)",
      canonical_json: "breakdown: canonicalJson (RFC 8785) of every content object",
      utf8_encode: "breakdown: the canonical strings to UTF-8 Buffers",
      leaf_sha256_hex: "breakdown: the leaf hashes as step-hash.ts computes them from the bytes: createHash, two updates, hex digest",
      chain: "breakdown: chainNext over every row from the genesis hash (hex decode, SHA-256 of 64 bytes, hex encode)",
      merkle_root: "breakdown: the RFC 6962 Merkle root from the stored hex leaf hashes (hex decode, n-1 node hashes)",
      checkpoint: "breakdown: opening the signed note (one Ed25519 verification) and parsing the checkpoint",
      reference_json_stringify: "reference, not a phase: JSON.stringify (V8 native, not canonical) of the same content objects",
    },
    measurements: {
      verify: { ...verify, steps_per_second: perSecond("verify") },
      breakdown_ms: breakdown,
      // The phases verifyTrace runs, added up: close to `verify` when the breakdown misses nothing big.
      breakdown_sum: { ms: Math.round(PHASES.reduce((sum, name) => sum + median(name), 0)) },
      verify_rate_vs_leaf_sha256_rate: { percent: pctOfSha },
    },
    anchors: {
      leaf_sha256: { ...leaf_sha256, steps_per_second: perSecond("leaf_sha256"), mb_per_second: Math.round(canonicalBytesTotal / 1e3 / median("leaf_sha256")) },
      sha256_stream: { ...sha256_stream, mb_per_second: Math.round(canonicalBytesTotal / 1e3 / median("sha256_stream")) },
    },
    ratios: {
      verify_vs_leaf_sha256: ratio(median("verify"), median("leaf_sha256")),
      canonical_json_vs_leaf_sha256: ratio(median("canonical_json"), median("leaf_sha256")),
      merkle_root_vs_leaf_sha256: ratio(median("merkle_root"), median("leaf_sha256")),
      chain_vs_leaf_sha256: ratio(median("chain"), median("leaf_sha256")),
    },
    goals: [goalAtLeast("verify rate vs raw SHA-256 rate", "median", pctOfSha, GOAL_PCT_OF_SHA)],
    settings: {
      steps: STEPS,
      reps: REPS,
      warmup_rounds: 1,
      canonical_bytes_total: canonicalBytesTotal,
      canonical_bytes_per_step: Math.round(canonicalBytesTotal / STEPS),
      step: "one http_call attempt: params (URL, method, headers with a redacted secret, a JSON body) and a JSON response",
      order: `each round runs every figure once, each after a full garbage collection: ${Object.keys(work).join(", ")}`,
    },
  };
}

export const proofVerify: Benchmark = { name: "proof-verify", needsServer: false, run };
