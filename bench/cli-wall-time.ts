import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Benchmark, type BenchContext, type BenchmarkReport, goal } from "./support/benchmark.js";
import { ONE_STEP_PLAN } from "./support/one-step-plan.js";
import { ratio, spread } from "./support/stats.js";

const COLD_RUNS = 5;
const WARM_RUNS = 10;
const ANCHOR_RUNS = 10;
const COLD_GOAL_MS = 3_000;
const WARM_GOAL_MS = 1_000;

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
  if (!existsSync(join(root, "dist/db/migrations"))) throw new Error("dist/ is missing or incomplete: run npm run build");
  const dir = mkdtempSync(join(root, "bench", ".cli-"));
  cpSync(join(root, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(root, "dist"), join(dir, "dist"), { recursive: true });
  return dir;
}

/** Runs `node <args>` to completion and returns its wall time; a non-zero exit ends the benchmark. */
function timeNode(ctx: BenchContext, args: string[], env: Record<string, string> = {}): { ms: number; stdout: string } {
  const start = performance.now();
  // A minimal environment: no DATABASE_URL (the embedded default) and no NODE_OPTIONS inherited from tsx.
  const child = spawnSync(process.execPath, args, { cwd: ctx.root, env: { NO_COLOR: "1", ...env }, encoding: "utf8" });
  const ms = performance.now() - start;
  if (child.status !== 0) {
    throw new Error(`node ${args.join(" ")} exited with ${child.status ?? child.signal}: ${child.stderr.slice(0, 500)}`);
  }
  return { ms, stdout: child.stdout };
}

function timeAosRun(ctx: BenchContext, aos: string, home: string, planFile: string): number {
  const args = [aos, "run", "--tenant-id", "bench", "--goal", "bench", "--plan", planFile, "--json"];
  const { ms, stdout } = timeNode(ctx, args, { AOS_HOME: home });
  const status = (JSON.parse(stdout) as { status?: unknown }).status;
  if (status !== "succeeded") throw new Error(`aos run ended ${String(status)}, not succeeded`);
  return ms;
}

function repeat<T>(times: number, measure: (index: number) => T): T[] {
  return Array.from({ length: times }, (_, index) => measure(index));
}

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  const cli = snapshotCli(ctx.root);
  const scratch = mkdtempSync(join(tmpdir(), "aos-bench-cli-"));
  const aos = join(cli, "bin/aos.js");
  try {
    const planFile = join(scratch, "plan.json");
    writeFileSync(planFile, JSON.stringify(ONE_STEP_PLAN));

    ctx.progress(`anchors: node -e "" and aos list-skills, ${ANCHOR_RUNS} each`);
    timeNode(ctx, ["-e", ""]);
    const nodeStart = spread(repeat(ANCHOR_RUNS, () => timeNode(ctx, ["-e", ""]).ms));
    timeNode(ctx, [aos, "list-skills"]);
    const listSkills = spread(repeat(ANCHOR_RUNS, () => timeNode(ctx, [aos, "list-skills"]).ms));

    ctx.progress(`aos run, cold (fresh AOS_HOME each time), ${COLD_RUNS} runs`);
    const cold = spread(repeat(COLD_RUNS, (index) => timeAosRun(ctx, aos, join(scratch, `cold-${index}`), planFile)));

    ctx.progress(`aos run, warm (one AOS_HOME, after one warm-up run), ${WARM_RUNS} runs`);
    const warmHome = join(scratch, "warm");
    timeAosRun(ctx, aos, warmHome, planFile);
    const warm = spread(repeat(WARM_RUNS, () => timeAosRun(ctx, aos, warmHome, planFile)));

    ctx.progress(`PGlite import, open and close of the warm database in a fresh process, ${COLD_RUNS} runs`);
    const opens = repeat(COLD_RUNS, () => {
      const { stdout } = timeNode(ctx, ["--input-type=module", "-e", PGLITE_OPEN_SCRIPT], { AOS_HOME: warmHome });
      return JSON.parse(stdout) as { import_ms: number; open_ms: number; close_ms: number };
    });

    return {
      describes: {
        cold: "`aos run --plan <one json_transform step> --json` as a child process with a fresh AOS_HOME: PGlite initdb, migrations, the run, exit",
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
        pglite_import: spread(opens.map((open) => open.import_ms)),
        pglite_open: spread(opens.map((open) => open.open_ms)),
        pglite_close: spread(opens.map((open) => open.close_ms)),
      },
      anchors: { node_start: nodeStart, list_skills: listSkills },
      ratios: {
        cold_vs_node_start: ratio(cold.median, nodeStart.median),
        warm_vs_node_start: ratio(warm.median, nodeStart.median),
        warm_vs_list_skills: ratio(warm.median, listSkills.median),
      },
      goals: [goal("cold aos run", "median", cold.median, COLD_GOAL_MS), goal("warm aos run", "median", warm.median, WARM_GOAL_MS)],
      settings: { cold_runs: COLD_RUNS, warm_runs: WARM_RUNS, anchor_runs: ANCHOR_RUNS, backend: "pglite (embedded)" },
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(cli, { recursive: true, force: true });
  }
}

export const cliWallTime: Benchmark = { name: "cli-wall-time", needsServer: false, run };
