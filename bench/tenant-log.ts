import { randomBytes } from "node:crypto";
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config.js";
import type { Database } from "../src/db/database.js";
import { createAgent } from "../src/services/agents.js";
import { createRun } from "../src/services/runs.js";
import { consistencyProofFromStore, inclusionProofFromStore } from "../src/tenant-log/node-store.js";
import { generateWitnessKey } from "../src/trace/cosignature.js";
import { generateSigningKey, signNote } from "../src/trace/signed-note.js";
import { inclusionProof, leafHashOf, verifyConsistency, verifyInclusion } from "../src/trace/merkle.js";
import { MerkleLevels } from "../src/trace/merkle-nodes.js";
import { runWorker } from "../src/worker/loop.js";
import type { RunnerDeps } from "../src/worker/runner.js";
import { startWitness } from "../src/witness/server.js";
import { submitCheckpoint } from "../src/witness/client.js";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { withRunnerDeps } from "./support/runner-deps.js";
import { percentiles, ratio } from "./support/stats.js";

const CONCURRENCY = 16;
const RUNS = 2_000;
const TENANTS = 4;
const SIZES = [1_000, 1_000_000];
const PROOF_SAMPLES = 200;
/** Untimed proofs first: a tree written moments ago is not yet in the server's cache, as a serving log's would be. */
const PROOF_WARMUP = 50;
const NODE_CHUNK = 50_000;
const WITNESS_ROUNDS = 200;

/**
 * Integration latency: 2,000 one-step runs over 4 tenants, executed by an in-process worker at full rate; for each,
 * the time from its ending (completed_at, the worker's clock) to its entry's integration (integrated_at, the
 * database's clock, same machine).
 */
async function integrationLatency(ctx: BenchContext, deps: RunnerDeps): Promise<ReturnType<typeof percentiles> & { runs: number; runs_per_second: number }> {
  const agents = [];
  for (let t = 0; t < TENANTS; t++) {
    const agent = await createAgent(deps.db, { tenantId: `bench-log-${t}`, name: "bench" });
    await deps.db.pool.query("update agents set concurrent_runs_limit = 1000 where id = $1", [agent.id]);
    agents.push(agent);
  }
  const plan = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] };
  ctx.progress(`queueing ${RUNS} one-step runs over ${TENANTS} tenants`);
  for (let i = 0; i < RUNS; i++) await createRun(deps, { tenantId: agents[i % TENANTS]!.tenantId, agentId: agents[i % TENANTS]!.id, goal: "bench", plan });
  ctx.progress(`draining them at concurrency ${CONCURRENCY}; the worker's sequencer integrates them as they end`);
  const stop = new AbortController();
  const worker = runWorker(deps, { id: "bench-log", concurrency: CONCURRENCY, signal: stop.signal });
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { rows } = await deps.db.pool.query<{ n: number }>("select count(*)::int as n from aos_tenant_log_entries where tenant_id like 'bench-log-%'");
    if ((rows[0]?.n ?? 0) >= RUNS) break;
  }
  stop.abort();
  await worker;
  const { rows } = await deps.db.pool.query<{ ms: number }>(
    `select extract(epoch from e.integrated_at - r.completed_at)::float8 * 1000 as ms
     from aos_tenant_log_entries e join runs r on r.id = e.run_id where e.tenant_id like 'bench-log-%'`,
  );
  const span = await deps.db.pool.query<{ seconds: number }>("select extract(epoch from max(completed_at) - min(started_at))::float8 as seconds from runs where tenant_id like 'bench-log-%'");
  return { ...percentiles(rows.map((row) => row.ms)), runs: rows.length, runs_per_second: Math.round(RUNS / (span.rows[0]?.seconds ?? Number.NaN)) };
}

/** A tenant log of `size` random leaves written straight into the node table (what the sequencer would have stored). */
async function storeTree(db: Database, tenantId: string, size: number): Promise<MerkleLevels> {
  const tree = new MerkleLevels(Array.from({ length: size }, () => leafHashOf(randomBytes(32))));
  await db.pool.query("insert into tenants (id, name) values ($1, $1) on conflict do nothing", [tenantId]);
  const nodes: [number, number, Buffer][] = [];
  for (let level = 0; 2 ** level <= size; level++) {
    for (let index = 0; index < Math.floor(size / 2 ** level); index++) nodes.push([level, index, tree.lookup({ level, index }) as Buffer]);
  }
  for (let from = 0; from < nodes.length; from += NODE_CHUNK) {
    const chunk = nodes.slice(from, from + NODE_CHUNK);
    await db.pool.query(
      `insert into aos_tenant_log_nodes (tenant_id, level, idx, hash)
       select $1::text, n.level, n.idx, decode(n.hash, 'hex') from unnest($2::smallint[], $3::bigint[], $4::text[]) as n (level, idx, hash)`,
      [tenantId, chunk.map((n) => n[0]), chunk.map((n) => String(n[1])), chunk.map((n) => n[2].toString("hex"))],
    );
  }
  return tree;
}

/** Inclusion and consistency proofs generated from the stored nodes (one query each), checked, timed. */
async function proofTimes(db: Database, tenantId: string, tree: MerkleLevels) {
  const size = tree.size;
  const inclusion: number[] = [];
  const consistency: number[] = [];
  for (let warm = 0; warm < PROOF_WARMUP; warm++) {
    await inclusionProofFromStore(db.pool, tenantId, Math.floor(Math.random() * size), size);
    await consistencyProofFromStore(db.pool, tenantId, 1 + Math.floor(Math.random() * (size - 1)), size);
  }
  for (let sample = 0; sample < PROOF_SAMPLES; sample++) {
    const index = Math.floor(Math.random() * size);
    let start = performance.now();
    const path = await inclusionProofFromStore(db.pool, tenantId, index, size);
    inclusion.push(performance.now() - start);
    if (!verifyInclusion(tree.lookup({ level: 0, index }) as Buffer, index, size, path, tree.root())) throw new Error(`inclusion proof ${index}/${size} does not verify`);
    const oldSize = 1 + Math.floor(Math.random() * (size - 1));
    start = performance.now();
    const proof = await consistencyProofFromStore(db.pool, tenantId, oldSize, size);
    consistency.push(performance.now() - start);
    if (!verifyConsistency(oldSize, size, tree.root(oldSize), tree.root(), proof)) throw new Error(`consistency proof ${oldSize}→${size} does not verify`);
  }
  return { leaves: size, inclusion_ms: percentiles(inclusion), consistency_ms: percentiles(consistency) };
}

/** Round trips of witness cosigning (an in-process `aos witness` on loopback) beside a bare loopback HTTP POST. */
async function witnessRoundTrip(ctx: BenchContext) {
  const dir = mkdtempSync(join(tmpdir(), "aos-bench-witness-"));
  const logKey = generateSigningKey("bench.log");
  const witness = await startWitness({ signerKey: generateWitnessKey("bench.witness").signerKey, stateDir: dir, logKeys: [logKey.verifier], host: "127.0.0.1", port: 0 });
  const echo = http.createServer((request, response) => request.resume().on("end", () => response.end("ok\n")));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const echoPort = (echo.address() as { port: number }).port;
  const egress = loadConfig({ AOS_EGRESS_ALLOW: "127.0.0.1" }).egressOpenings;
  try {
    ctx.progress(`${WITNESS_ROUNDS} checkpoints of a growing log, each cosigned by the witness with its consistency proof`);
    const leaves: Buffer[] = [];
    const cosign: number[] = [];
    const bare: number[] = [];
    let tree = new MerkleLevels([]);
    for (let round = 0; round < WITNESS_ROUNDS; round++) {
      const oldSize = leaves.length;
      for (let i = 0; i < 8; i++) leaves.push(leafHashOf(randomBytes(32)));
      tree = new MerkleLevels(leaves);
      const note = signNote(`${logKey.signer.name}/tenant/bench\n${leaves.length}\n${tree.root().toString("base64")}\n`, logKey.signer);
      const consistencyProof = oldSize === 0 ? [] : tree.consistencyProof(oldSize);
      let start = performance.now();
      const answer = await submitCheckpoint(witness.url, { oldSize, consistencyProof, note }, { egress: { openings: egress, narrowTo: [] } });
      cosign.push(performance.now() - start);
      if (!answer.ok) throw new Error(`the witness refused round ${round}: ${JSON.stringify(answer)}`);
      start = performance.now();
      await post(echoPort, note);
      bare.push(performance.now() - start);
    }
    return { cosign_ms: percentiles(cosign), bare_post_ms: percentiles(bare) };
  } finally {
    await witness.close();
    echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function post(port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent: false }, (response) => response.resume().on("end", resolve));
    request.on("error", reject);
    request.end(body);
  });
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  const server = ctx.server;
  if (server === undefined) throw new Error("the tenant-log benchmark needs the PostgreSQL server");
  return withRunnerDeps(server, async (deps) => {
    const latency = await integrationLatency(ctx, deps);
    const sizes = [];
    for (const size of SIZES) {
      ctx.progress(`a tenant log of ${size.toLocaleString("en")} leaves stored as nodes; ${PROOF_SAMPLES} inclusion and consistency proofs from it`);
      const tree = await storeTree(deps.db, `bench-nodes-${size}`, size);
      sizes.push(await proofTimes(deps.db, `bench-nodes-${size}`, tree));
    }
    ctx.progress("anchor: one inclusion proof at 10⁶ leaves rebuilt from the leaf list in memory (what proofs cost before stored nodes)");
    const leaves = Array.from({ length: 1_000_000 }, () => leafHashOf(randomBytes(32)));
    const rebuildStart = performance.now();
    inclusionProof(leaves, 123_456);
    const rebuildMs = performance.now() - rebuildStart;
    const witness = await witnessRoundTrip(ctx);
    const [small, large] = sizes as [Awaited<ReturnType<typeof proofTimes>>, Awaited<ReturnType<typeof proofTimes>>];
    return {
      describes: {
        integration_ms: `completed_at → integrated_at of each of ${RUNS} one-step runs over ${TENANTS} tenants, executed at concurrency ${CONCURRENCY} by an in-process worker whose sequencer integrates them (kicked per run, sweeping every 500 ms)`,
        proofs_1000: `inclusion and consistency proofs generated from a 10³-leaf tenant log's stored nodes (one query each), random index / old size, after ${PROOF_WARMUP} untimed ones`,
        proofs_1000000: "the same at 10⁶ leaves",
        witness: `cosign_ms: submitCheckpoint to an in-process witness on loopback (verify the log's signature and the consistency proof, persist with fsync, cosign), ${WITNESS_ROUNDS} checkpoints growing by 8; bare_post_ms: a loopback HTTP POST of the same note to a server that only answers`,
        rebuild_1000000: "anchor: inclusionProof over 10⁶ leaves in memory, levels built from the leaf list (the cost per proof before stored nodes)",
      },
      measurements: { integration_ms: latency, proofs_1000: small, proofs_1000000: large, witness: witness.cosign_ms },
      anchors: { rebuild_1000000: { ms: Math.round(rebuildMs) }, bare_post_ms: witness.bare_post_ms },
      ratios: {
        inclusion_1000000_vs_1000_p50: ratio(large.inclusion_ms.p50, small.inclusion_ms.p50),
        consistency_1000000_vs_1000_p50: ratio(large.consistency_ms.p50, small.consistency_ms.p50),
        rebuild_1000000_vs_stored_inclusion_1000000_p50: ratio(rebuildMs, large.inclusion_ms.p50),
        witness_cosign_vs_bare_post_p50: ratio(witness.cosign_ms.p50, witness.bare_post_ms.p50),
      },
      goals: [
        goal("a finished run is in its tenant log within 1 s at p95 under load", "p95", latency.p95, 1000),
        { ...goal("inclusion proof at 10⁶ leaves within 1.5× of 10³ (logarithmic)", "p50 ratio", ratio(large.inclusion_ms.p50, small.inclusion_ms.p50), 1.5), unit: "×" },
        { ...goal("consistency proof at 10⁶ leaves within 1.5× of 10³ (logarithmic)", "p50 ratio", ratio(large.consistency_ms.p50, small.consistency_ms.p50), 1.5), unit: "×" },
      ],
      settings: { concurrency: CONCURRENCY, runs: RUNS, tenants: TENANTS, proof_samples: PROOF_SAMPLES, proof_warmup: PROOF_WARMUP, witness_rounds: WITNESS_ROUNDS, checkpoint_every: deps.config.tenantCheckpointEvery, checkpoint_interval_ms: deps.config.tenantCheckpointIntervalMs },
    };
  });
}

export const tenantLogBench: Benchmark = { name: "tenant-log", needsServer: true, run };
