import { createHash, randomBytes } from "node:crypto";
import { HASH_SIZE, inclusionProof, merkleRoot, verifyInclusion } from "../src/trace/merkle.js";
import type { Benchmark, BenchContext, BenchmarkReport } from "./support/benchmark.js";
import { perCallUs, percentiles, ratio, spread } from "./support/stats.js";

const SIZES = [1_000, 1_000_000];
const SAMPLES = 200;
const BATCH = 50;
/** A tlog-proof (c2sp.org/tlog-proof) writes each audit-path hash as a base64 line: 44 characters and "\n". */
const TEXT_BYTES_PER_HASH = 45;


function randomLeaves(count: number): Buffer[] {
  const block = randomBytes(count * HASH_SIZE);
  return Array.from({ length: count }, (_, i) => block.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
}

function measureSize(leafCount: number) {
  const leaves = randomLeaves(leafCount);
  const rootStart = performance.now();
  const root = merkleRoot(leaves);
  const rootMs = performance.now() - rootStart;

  const indices = [0, Math.floor(leafCount / 3), leafCount - 1];
  const generateMs: number[] = [];
  const proofs = indices.map((index) => {
    const start = performance.now();
    const proof = inclusionProof(leaves, index);
    generateMs.push(performance.now() - start);
    const leaf = leaves[index] as Buffer;
    if (!verifyInclusion(leaf, index, leafCount, proof, root)) throw new Error(`the proof of leaf ${index} of ${leafCount} did not verify`);
    return { index, leaf, proof };
  });

  const verifyUs: number[] = [];
  for (let sample = 0; sample < SAMPLES; sample++) {
    for (const { index, leaf, proof } of proofs) verifyUs.push(perCallUs(() => verifyInclusion(leaf, index, leafCount, proof, root), BATCH));
  }
  return {
    leaves: leafCount,
    proofs: proofs.map(({ index, proof }) => ({
      index,
      hashes: proof.length,
      bytes: proof.length * HASH_SIZE,
      text_bytes: proof.length * TEXT_BYTES_PER_HASH,
    })),
    merkle_root_ms: Math.round(rootMs * 10) / 10,
    generate_ms: spread(generateMs),
    verify_us: percentiles(verifyUs),
  };
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  const sizes = SIZES.map((leafCount) => {
    ctx.progress(`${leafCount.toLocaleString("en")} random leaves: root, ${3} proofs, ${SAMPLES * 3} × ${BATCH} verifications`);
    return measureSize(leafCount);
  });
  const message = randomBytes(64);
  const sha: number[] = [];
  for (let sample = 0; sample < SAMPLES * 3; sample++) sha.push(perCallUs(() => createHash("sha256").update(message).digest(), BATCH));
  const sha64 = percentiles(sha);

  const [small, large] = sizes as [ReturnType<typeof measureSize>, ReturnType<typeof measureSize>];
  return {
    describes: {
      leaves_1000: "a tree of 10³ random 32-byte leaves; proofs of the first, a middle and the last leaf",
      leaves_1000000: "a tree of 10⁶ random 32-byte leaves; proofs of the first, a middle and the last leaf",
      "proofs[].hashes / bytes / text_bytes": "the audit path's length: hashes, raw bytes (32 each), and base64 lines as a tlog-proof writes them",
      merkle_root_ms: "merkleRoot over all the leaves, once",
      generate_ms: "inclusionProof for one leaf from the whole leaf list: it builds the tree's levels first (O(n) hashes); the tenant-log benchmark times proofs from stored nodes (O(log n) reads)",
      verify_us: `verifyInclusion of one proof, µs per call; each sample times ${BATCH} calls; samples cycle over the three leaves`,
      sha256_64b_us: `anchor: createHash("sha256").update(64 bytes).digest(), the node hash's own primitive; µs per call, ${BATCH} calls per sample`,
    },
    measurements: { leaves_1000: small, leaves_1000000: large },
    anchors: { sha256_64b_us: sha64 },
    ratios: {
      verify_1000_p50_vs_sha256_64b_p50: ratio(small.verify_us.p50, sha64.p50),
      verify_1000000_p50_vs_sha256_64b_p50: ratio(large.verify_us.p50, sha64.p50),
      verify_1000000_p50_vs_verify_1000_p50: ratio(large.verify_us.p50, small.verify_us.p50),
      leaves_1000000_vs_leaves_1000: ratio(large.leaves, small.leaves),
    },
    goals: [],
    settings: { sizes: SIZES, samples_per_leaf: SAMPLES, calls_per_sample: BATCH, leaves: "crypto.randomBytes, 32 bytes each" },
  };
}

export const inclusionProofBench: Benchmark = { name: "inclusion-proof", needsServer: false, run };
