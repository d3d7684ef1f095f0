import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { ONE_STEP_PLAN } from "./support/one-step-plan.js";
import { ratio, spread } from "./support/stats.js";

const COLD_RUNS = 5;
const COLD_INITDB_RUNS = 3;
const WARM_RUNS = 10;
const ANCHOR_RUNS = 10;
// Issue 16: a fresh AOS_HOME should cost about what a warm start costs (the built data directory template).
const COLD_GOAL_MS = 1_200;
const COLD_PEAK_GOAL_MIB = 400;
const WARM_GOAL_MS = 600;
const READ_BESIDE_DEV_GOAL_MS = 400;
const PEAK_RSS = new URL("./support/peak-rss.mjs", import.meta.url).href;

/**
 * Opens an existing embedded database in a fresh process and reports, from inside it, how long importing
 * PGlite, opening the database and closing it took: the part of `aos run` that is PGlite rather than AOS.
 */
const PGLITE_OPEN_SCRIPT = `
const t0 = performance.now();
const { PGlite } = await import("@electric-sql/pglite");
const t1 = performance.now();
const db = await PGlite.create(process.env.AOS_HOME + "/pgdata");
await db.query("select 1");
const t2 = performance.now();
await db.close();
const t3 = performance.now();
console.log(JSON.stringify({ import_ms: t1 - t0, open_ms: t2 - t1, close_ms: t3 - t2 }));
`;

/**
 * A private copy of bin/ and dist/ inside the repository (so node_modules still resolves). Another `npm run
 * build` in the same tree (`npm test` runs one) empties dist/ and would pull the CLI out from under a running
 * benchmark; the copy is the build `npm run bench` has just made.
 */
function snapshotCli(root: string): string {
  if (!existsSync(join(root, "dist/db/pgdata-template.json"))) throw new Error("dist/ is missing or incomplete: run npm run build");
  const dir = mkdtempSync(join(root, "bench", ".cli-"));
  cpSync(join(root, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(root, "dist"), join(dir, "dist"), { recursive: true });
  return dir;
}

/** The same CLI without the data directory template: a fresh AOS_HOME runs initdb and every migration. */
function snapshotCliWithoutTemplate(root: string): string {
  const dir = snapshotCli(root);
  rmSync(join(dir, "dist/db/pgdata-template.json"));
  rmSync(join(dir, "dist/db/pgdata-template.tar.gz"));
  return dir;
}

interface ChildRun {
  ms: number;
  /** The child's peak resident memory: getrusage's ru_maxrss, reported by the child itself at exit (peak-rss.mjs). */
  peakMiB: number;
  stdout: string;
}

/**
 * Runs `node <args>` to completion and returns its wall time and peak memory; a non-zero exit ends the benchmark.
 * Every child, anchors included, loads the same one-line exit hook, so the ratios compare like with like.
 */
function timeNode(ctx: BenchContext, args: string[], env: Record<string, string> = {}): ChildRun {
  const start = performance.now();
  // A minimal environment: no DATABASE_URL (the embedded default) and no NODE_OPTIONS inherited from tsx.
  const child = spawnSync(process.execPath, ["--import", PEAK_RSS, ...args], { cwd: ctx.root, env: { NO_COLOR: "1", ...env }, encoding: "utf8" });
  const ms = performance.now() - start;
  if (child.status !== 0) {
    throw new Error(`node ${args.join(" ")} exited with ${child.status ?? child.signal}: ${child.stderr.slice(0, 500)}`);
  }
  const kib = Number(/^bench-peak-rss-kib (\d+)$/m.exec(child.stderr)?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`node ${args.join(" ")} did not report its peak memory`);
  return { ms, peakMiB: Math.round((kib / 1024) * 10) / 10, stdout: child.stdout };
}

function timeAosRun(ctx: BenchContext, aos: string, home: string, planFile: string): ChildRun {
  const args = [aos, "run", "--tenant-id", "bench", "--goal", "bench", "--plan", planFile, "--json"];
  const run = timeNode(ctx, args, { AOS_HOME: home });
  const status = (JSON.parse(run.stdout) as { status?: unknown }).status;
  if (status !== "succeeded") throw new Error(`aos run ended ${String(status)}, not succeeded`);
  return run;
}

/**
 * Issue 16's third goal: a read-only verb (`aos list-runs`) from a second process while `aos dev` holds the
 * embedded database (the second process reaches it through dev's owner socket, src/db/shared-session.ts).
 */
async function readVerbBesideDev(ctx: BenchContext, aos: string, home: string): Promise<ChildRun[]> {
  const dev = spawn(process.execPath, [aos, "dev", "--port", "0", "-q"], { cwd: ctx.root, env: { NO_COLOR: "1", AOS_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
  const exited = once(dev, "exit");
  try {
    let printed = "";
    dev.stdout.on("data", (chunk: Buffer) => (printed += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      dev.stdout.on("data", () => printed.includes("Ctrl-C stops it.") && resolve());
      void exited.then(() => reject(new Error(`aos dev exited before it was ready: ${printed}`)));
    });
    const args = [aos, "list-runs", "--tenant-id", "bench", "--json"];
    timeNode(ctx, args, { AOS_HOME: home });
    return repeat(ANCHOR_RUNS, () => timeNode(ctx, args, { AOS_HOME: home }));
  } finally {
    dev.kill("SIGINT");
    await exited;
  }
}

function repeat<T>(times: number, measure: (index: number) => T): T[] {
  return Array.from({ length: times }, (_, index) => measure(index));
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  const cli = snapshotCli(ctx.root);
  const cliWithoutTemplate = snapshotCliWithoutTemplate(ctx.root);
  const scratch = mkdtempSync(join(tmpdir(), "aos-bench-cli-"));
  const aos = join(cli, "bin/aos.js");
  try {
    const planFile = join(scratch, "plan.json");
    writeFileSync(planFile, JSON.stringify(ONE_STEP_PLAN));

    ctx.progress(`anchors: node -e "" and aos list-skills, ${ANCHOR_RUNS} each`);
    timeNode(ctx, ["-e", ""]);
    const nodeRuns = repeat(ANCHOR_RUNS, () => timeNode(ctx, ["-e", ""]));
    timeNode(ctx, [aos, "list-skills"]);
    const listSkillsRuns = repeat(ANCHOR_RUNS, () => timeNode(ctx, [aos, "list-skills"]));
    const nodeStart = spread(nodeRuns.map((run) => run.ms));
    const listSkills = spread(listSkillsRuns.map((run) => run.ms));

    ctx.progress(`aos run, cold (fresh AOS_HOME each time), ${COLD_RUNS} runs`);
    const coldRuns = repeat(COLD_RUNS, (index) => timeAosRun(ctx, aos, join(scratch, `cold-${index}`), planFile));
    const cold = spread(coldRuns.map((run) => run.ms));
    const coldPeak = spread(coldRuns.map((run) => run.peakMiB));

    ctx.progress(`aos run, cold without the template (initdb and migrations), ${COLD_INITDB_RUNS} runs`);
    const initdbAos = join(cliWithoutTemplate, "bin/aos.js");
    const initdbRuns = repeat(COLD_INITDB_RUNS, (index) => timeAosRun(ctx, initdbAos, join(scratch, `initdb-${index}`), planFile));
    const coldInitdb = spread(initdbRuns.map((run) => run.ms));

    ctx.progress(`aos run, warm (one AOS_HOME, after one warm-up run), ${WARM_RUNS} runs`);
    const warmHome = join(scratch, "warm");
    timeAosRun(ctx, aos, warmHome, planFile);
    const warmRuns = repeat(WARM_RUNS, () => timeAosRun(ctx, aos, warmHome, planFile));
    const warm = spread(warmRuns.map((run) => run.ms));
    const warmPeak = spread(warmRuns.map((run) => run.peakMiB));

    ctx.progress(`aos list-runs beside a running aos dev on the warm AOS_HOME, ${ANCHOR_RUNS} runs`);
    const besideDev = spread((await readVerbBesideDev(ctx, aos, warmHome)).map((run) => run.ms));

    ctx.progress(`PGlite import, open and close of the warm database in a fresh process, ${COLD_RUNS} runs`);
    const opens = repeat(COLD_RUNS, () => {
      const { stdout } = timeNode(ctx, ["--input-type=module", "-e", PGLITE_OPEN_SCRIPT], { AOS_HOME: warmHome });
      return JSON.parse(stdout) as { import_ms: number; open_ms: number; close_ms: number };
    });

    return {
      describes: {
        cold: "`aos run --plan <one json_transform step> --json` as a child process with a fresh AOS_HOME: the data directory unpacked from the built template (initdb and migrations if it does not match), the run, exit",
        cold_initdb: "the cold run with the template removed from the CLI's dist/: PGlite initdb and every migration inside WASM, as before the template",
        cold_initdb_peak_rss: "peak resident memory of each cold_initdb run, MiB",
        cold_peak_rss: "peak resident memory of each cold run, MiB (getrusage ru_maxrss reported by the child at exit; not ms)",
        warm_peak_rss: "peak resident memory of each warm run, MiB (as cold_peak_rss)",
        read_verb_beside_dev: "`aos list-runs --json` as a child process while `aos dev` holds the warm AOS_HOME: it reaches the database through dev",
        warm: "the same on an AOS_HOME that already holds a migrated database (one warm-up run before these)",
        pglite_import: "inside a fresh process: `await import('@electric-sql/pglite')`",
        pglite_open: "inside a fresh process: PGlite.create(<warm pgdata>) and `select 1`: WASM instantiation and PostgreSQL start-up",
        pglite_close: "inside the same process: PGlite close (PostgreSQL shut down)",
        node_start: 'anchor: `node -e ""`, the floor of any child process',
        list_skills: "anchor: `aos list-skills`: Node plus AOS's module graph, no database",
      },
      measurements: {
        cold,
        warm,
        cold_peak_rss: coldPeak,
        cold_initdb: coldInitdb,
        cold_initdb_peak_rss: spread(initdbRuns.map((run) => run.peakMiB)),
        warm_peak_rss: warmPeak,
        read_verb_beside_dev: besideDev,
        pglite_import: spread(opens.map((open) => open.import_ms)),
        pglite_open: spread(opens.map((open) => open.open_ms)),
        pglite_close: spread(opens.map((open) => open.close_ms)),
      },
      anchors: {
        node_start: nodeStart,
        list_skills: listSkills,
        node_start_peak_rss: spread(nodeRuns.map((run) => run.peakMiB)),
        list_skills_peak_rss: spread(listSkillsRuns.map((run) => run.peakMiB)),
      },
      ratios: {
        cold_vs_node_start: ratio(cold.median, nodeStart.median),
        cold_vs_list_skills: ratio(cold.median, listSkills.median),
        cold_vs_warm: ratio(cold.median, warm.median),
        cold_vs_cold_initdb: ratio(cold.median, coldInitdb.median),
        warm_vs_node_start: ratio(warm.median, nodeStart.median),
        warm_vs_list_skills: ratio(warm.median, listSkills.median),
        read_verb_beside_dev_vs_list_skills: ratio(besideDev.median, listSkills.median),
      },
      goals: [
        goal("cold aos run", "median", cold.median, COLD_GOAL_MS),
        { name: "cold aos run peak memory", statistic: "max", value: coldPeak.max, bound: "<=", limit: COLD_PEAK_GOAL_MIB, unit: "MiB", met: coldPeak.max <= COLD_PEAK_GOAL_MIB },
        goal("warm aos run", "median", warm.median, WARM_GOAL_MS),
        goal("read-only verb beside aos dev", "median", besideDev.median, READ_BESIDE_DEV_GOAL_MS),
      ],
      settings: { cold_runs: COLD_RUNS, cold_initdb_runs: COLD_INITDB_RUNS, warm_runs: WARM_RUNS, anchor_runs: ANCHOR_RUNS, backend: "pglite (embedded)" },
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(cli, { recursive: true, force: true });
    rmSync(cliWithoutTemplate, { recursive: true, force: true });
  }
}

export const cliWallTime: Benchmark = { name: "cli-wall-time", needsServer: false, run };
