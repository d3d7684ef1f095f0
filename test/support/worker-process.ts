import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import type { Run } from "../../src/glossary.js";
import { getRunProof } from "../../src/services/proofs.js";
import { type CreateRunInput, createRun } from "../../src/services/runs.js";
import { runnerDeps, testConfig } from "./harness.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./http-server.js";
import { tempDir } from "./temp-dirs.js";

const BIN = new URL("../../bin/aos.js", import.meta.url).pathname;

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** An `aos worker` child process, the way an operator runs it: its own pid, its own pool, signals from outside. */
export interface WorkerProcess {
  readonly id: string;
  readonly pid: number;
  /** Everything it wrote to stderr so far: JSON log lines and, once stopped, its one-line summary. */
  stderr(): string;
  /** True until the process has exited. */
  alive(): boolean;
  readonly exited: Promise<WorkerExit>;
  /** SIGTERM, then waits for the exit: the graceful stop. */
  stop(): Promise<WorkerExit>;
  /** SIGKILL, then waits for the exit: a crash, with no chance to clean up. */
  kill(): Promise<WorkerExit>;
  /** SIGSTOP: frozen with its connections open, as a process stuck in a long GC pause or a frozen VM. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
}

export interface WorkerOptions {
  /** Its --id, and the application_name of its connections, so a test can find its backends in pg_stat_activity. */
  id: string;
  databaseUrl: string;
  /** Shared by every worker of a test: the signing key lives in `<home>/keys`. */
  home: string;
  concurrency?: number;
  env?: Record<string, string>;
}

const started = new Set<WorkerProcess>();

export function withApplicationName(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set("application_name", name);
  return url.toString();
}

/** Thrown from a waitFor probe to give up at once instead of at the deadline (a worker died that must not). */
export class StopWaiting extends Error {}

/** For probes: fails the wait at once, with the end of its log, when the worker has exited. */
export function mustBeAlive(worker: WorkerProcess): void {
  if (!worker.alive()) throw new StopWaiting(`worker ${worker.id} exited unexpectedly; its log ends:\n${worker.stderr().slice(-2000)}`);
}

export function startWorker(options: WorkerOptions): WorkerProcess {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NO_COLOR: "1",
    DATABASE_URL: withApplicationName(options.databaseUrl, options.id),
    AOS_HOME: options.home,
    // The tests' side-effect servers listen on loopback, which only the operator can open in the egress floor.
    AOS_EGRESS_ALLOW: "127.0.0.1",
    ...options.env,
  };
  const args = [BIN, "worker", "--id", options.id, "--concurrency", String(options.concurrency ?? 4)];
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  if (child.pid === undefined) throw new Error(`could not start worker ${options.id}`);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<WorkerExit>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const send = (signal: NodeJS.Signals) => {
    if (alive()) child.kill(signal);
  };
  const worker: WorkerProcess = {
    id: options.id,
    pid: child.pid,
    stderr: () => stderr,
    alive,
    exited,
    stop: () => (send("SIGTERM"), exited),
    kill: () => (send("SIGKILL"), exited),
    pause: () => send("SIGSTOP"),
    resume: () => send("SIGCONT"),
  };
  started.add(worker);
  void exited.then(() => started.delete(worker));
  return worker;
}

/** The end of each worker's stderr, for the message of a failed assertion about it. */
export function logTails(workers: readonly WorkerProcess[]): string {
  return workers.map((worker) => `--- ${worker.id} (stderr, last 1500 characters):\n${worker.stderr().slice(-1500)}`).join("\n");
}

/** Kills every worker a test left running (a failed assertion must not leave children behind). */
export async function killAllWorkers(): Promise<void> {
  await Promise.all([...started].map((worker) => worker.kill()));
}

/**
 * Polls `probe` until it returns a value other than undefined/false/null, and returns that value. A probe that
 * throws (the database restarting under it) counts as "not yet", except StopWaiting. Fails with `what` after
 * `deadlineMs`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  { deadlineMs = 60_000, intervalMs = 25 }: { deadlineMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      lastError = error;
    }
    if (Date.now() > end) {
      const why = lastError === undefined ? "" : ` (last error: ${(lastError as Error).message})`;
      throw new Error(`timed out after ${deadlineMs} ms waiting until ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

/** One AOS_HOME for every worker of a test, and a config on it: the proofs they sign verify under its keys. */
export function sharedHome(env: Record<string, string> = {}): { home: string; config: Config } {
  const home = tempDir("aos-workers");
  return { home, config: testConfig({ AOS_HOME: home, ...env }) };
}

/** Creates runs through the service (queued, with plan and trace header, NOTIFY), `parallel` at a time. */
export async function queueRuns(db: Database, config: Config, inputs: readonly CreateRunInput[], parallel = 8): Promise<Run[]> {
  const runs: Run[] = new Array(inputs.length);
  const deps = runnerDeps(db, config);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < inputs.length; index = next++) runs[index] = await createRun(deps, inputs[index]!);
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return runs;
}

/** Backends of the worker's connections (pool and LISTEN) the server still has. */
export async function backendsOf(db: Database, workerId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = $1::text", [workerId]);
  return rows[0]?.n ?? 0;
}

export async function unfinishedCount(db: Database, ids: readonly string[]): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "select count(*)::int as n from runs where id = any($1::text[]) and status not in ('succeeded', 'failed', 'halted', 'cancelled')",
    [ids],
  );
  return rows[0]?.n ?? 0;
}

export function waitUntilEnded(db: Database, ids: readonly string[], deadlineMs: number): Promise<true> {
  return waitFor(`all ${ids.length} runs ended`, async () => (await unfinishedCount(db, ids)) === 0, { deadlineMs, intervalMs: 100 });
}

/** A run as the database has it: status, attempts, epoch, and its trace as `step_index:attempt:status` by seq. */
export interface RunShape {
  status: string;
  attempts: number;
  epoch: number;
  rows: string[];
}

export async function runShapes(db: Database, ids: readonly string[]): Promise<Map<string, RunShape>> {
  const { rows } = await db.pool.query<{ id: string; status: string; attempts: number; epoch: number; steps: string[] | null }>(
    `select r.id, r.status, r.attempts, r.epoch,
  array_agg(s.step_index || ':' || s.attempt || ':' || s.status order by s.seq) filter (where s.seq is not null) as steps
from runs r
left join aos_trace_steps s on s.trace_id = 'trace_' || r.id
where r.id = any($1::text[])
group by r.id`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, { status: row.status, attempts: row.attempts, epoch: row.epoch, rows: row.steps ?? [] }]));
}

/** Outcome rows (anything but an intent) recorded twice for one (trace, step, attempt): a step run by two holders. */
export async function duplicateOutcomeRows(db: Database, ids: readonly string[]): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `select (count(*) - count(distinct (trace_id, step_index, attempt)))::int as n
from aos_trace_steps
where trace_id = any(select 'trace_' || id from unnest($1::text[]) as ids (id)) and status <> 'started'`,
    [ids],
  );
  return rows[0]?.n ?? 0;
}

/**
 * What users rely on after faults, as problems (none when it held): every run created is still there and
 * succeeded, each of its `steps` settled once and in order, and the POST of each step in `posts` reached the
 * effect server at least once and at most once more per interrupted attempt recorded for it (at-least-once, every
 * re-send accounted for). `resent` counts the POSTs sent again, so a test can check that its faults hit a POST.
 */
export async function settlement(
  db: Database,
  effects: EffectServer,
  ids: readonly string[],
  plan: { steps: number; posts: number[] },
): Promise<{ problems: string[]; resent: number }> {
  const shapes = await runShapes(db, ids);
  const expected = Array.from({ length: plan.steps }, (_, index) => String(index)).join(",");
  const problems = ids.filter((id) => !shapes.has(id)).map((id) => `${id}: no run row (created, then lost)`);
  problems.push(...[...shapes].flatMap(([id, shape]) => {
    const settled = shape.rows.filter((row) => row.endsWith(":succeeded")).map((row) => row.split(":")[0]);
    return shape.status === "succeeded" && settled.join(",") === expected ? [] : [`${id}: ${shape.status}, ${shape.rows.join(" ")}`];
  }));
  const { rows } = await db.pool.query<{ key: string; n: number }>(
    `select substr(trace_id, 7) || ':' || step_index as key, count(*)::int as n
from aos_trace_steps where trace_id = any($1::text[]) and status = 'interrupted' group by 1`,
    [ids.map((id) => `trace_${id}`)],
  );
  const interruptions = new Map(rows.map((row) => [row.key, row.n]));
  let resent = 0;
  for (const key of ids.flatMap((id) => plan.posts.map((step) => `${id}:${step}`))) {
    const [posts, interrupted] = [effects.postsWith(key), interruptions.get(key) ?? 0];
    if (posts < 1 || posts > 1 + interrupted) problems.push(`${key}: ${posts} POSTs, ${interrupted} interrupted attempts`);
    if (posts >= 2) resent += 1;
  }
  return { problems, resent };
}

/** The runs whose proof is not VERIFIED under `config` (the workers' AOS_HOME), each with the status it got. */
export async function unverifiedProofs(db: Database, config: Config, runs: readonly Run[], parallel = 8): Promise<string[]> {
  const problems: string[] = [];
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < runs.length; index = next++) {
      const run = runs[index]!;
      const proof = await getRunProof(db, config, run.tenantId, run.id);
      if (proof.verification_status !== "VERIFIED") problems.push(`${run.id}: ${proof.verification_status} ${proof.failure_reason ?? ""}`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return problems;
}

/**
 * A loopback server standing in for a payment API: a POST is answered after `delayMs`; requests are counted per
 * Idempotency-Key, and the keys of POSTs received and not yet answered (their caller still connected) are known.
 */
export interface EffectServer extends LoopbackServer {
  /** How many POSTs arrived with this Idempotency-Key. */
  postsWith(key: string): number;
  posts(): number;
  /** Idempotency-Keys of POSTs in flight: received, not answered, their connection still open. */
  inFlight(): Set<string>;
}

export async function startEffectServer(delayMs: number): Promise<EffectServer> {
  const pending = new Map<object, string>();
  const server = await startLoopbackServer((req, res) => {
    const key = String(req.headers["idempotency-key"] ?? "");
    if (req.method === "POST") {
      pending.set(res, key);
      res.on("close", () => pending.delete(res));
    }
    setTimeout(() => sendJson(res, 200, { ok: true, key }), req.method === "POST" ? delayMs : 0);
  });
  const posts = () => server.requests.filter((request) => request.method === "POST");
  return {
    ...server,
    postsWith: (key) => posts().filter((request) => request.headers["idempotency-key"] === key).length,
    posts: () => posts().length,
    inFlight: () => new Set(pending.values()),
  };
}
