import { spawn, spawnSync } from "node:child_process";
import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli, spawnCli, tempHome, writePlan } from "./support/cli.js";
import { onServer, serverBackend, type TestDatabase } from "./support/databases.js";
import { type LoopbackServer, sendJson, startLoopbackServer } from "./support/http-server.js";
import { waitFor } from "./support/worker-process.js";

/**
 * Live progress as a user sees it: `aos run` on a real terminal (a pty from util-linux `script`), on a terminal with
 * NO_COLOR, with --json, and through a pipe; `aos get-run --watch` of a finished run and of a run another process
 * executes. What is asserted is what reaches the screen: start lines before end lines, spinner frames and escape
 * codes only on a colour terminal, nothing drawn anywhere else.
 */

const BIN = new URL("../bin/aos.js", import.meta.url).pathname;
const ESC = "\u001b";
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] flaky {2}fail_trigger {2}running {2}\d+\.\d s/;
const hasScript = spawnSync("sh", ["-c", "command -v script"]).status === 0;

/** Runs the built CLI on a pseudo-terminal, the way a person at a terminal runs it; the pty turns \n into \r\n. */
function runOnTerminal(args: string[], env: Record<string, string>): Promise<CliResult> {
  const command = [process.execPath, BIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qefc", command, "/dev/null"], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: "xterm", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, ...output }));
  });
}

/** Where a line starting with `prefix` (after its indent) is in the output, failing when there is none. */
function lineAt(output: string, pattern: RegExp): number {
  const at = output.search(pattern);
  expect(at, `${pattern} in:\n${output}`).toBeGreaterThanOrEqual(0);
  return at;
}

const flakyThenPick = {
  steps: [
    { step_id: "flaky", skill: "fail_trigger", params: { fail_times: 1, retryable: true, cost_cents: 2, tokens: 7 } },
    { step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { b: "a" } } },
  ],
};

// Without util-linux `script` there is no pty to run on: the terminal tests are skipped (reported as skipped).
// Skipped only off CI: in CI a missing `script` (util-linux) fails these tests instead of hiding them.
describe.skipIf(!hasScript && process.env.CI !== "true")("aos run on a terminal", { timeout: 180_000 }, () => {
  const home = tempHome();
  const env = { AOS_HOME: home, AOS_STEP_RETRY_BASE_MS: "5", AOS_STEP_RETRY_MAX_MS: "20" };
  const run = ["run", "--tenant-id", "tty", "--goal", "flaky then pick"];

  it("shows each attempt as it starts and ends, a spinner on the running one, then the run's end and its summary", async () => {
    const result = await runOnTerminal([...run, "--plan", writePlan(home, flakyThenPick)], env);
    expect(result.code, result.stdout).toBe(0);
    const screen = result.stdout;
    // The screen's lines: a redrawn line starts where the erase is, colour codes dropped.
    const plain = screen.replaceAll(`\r${ESC}[2K`, "\n").replaceAll(/\u001b\[[0-9;]*[A-Za-z]/g, "");
    const order = [
      lineAt(plain, /\n {2}flaky {2}fail_trigger {2}started {2}attempt 1 {2}allow \(default\)\r\n/),
      lineAt(plain, /\n {2}flaky {2}fail_trigger {2}failed {2}\d+ ms {2}2c {2}7 tokens {2}INJECTED_FAILURE: /),
      lineAt(plain, /\n {2}flaky {2}fail_trigger {2}started {2}attempt 2 {2}allow \(default\)\r\n/),
      lineAt(plain, /\n {2}flaky {2}fail_trigger {2}succeeded {2}\d+ ms {2}2c {2}7 tokens \(attempt 2\)\r\n/),
      lineAt(plain, /\n {2}pick {2}json_transform {2}started {2}attempt 1/),
      lineAt(plain, /\n {2}pick {2}json_transform {2}succeeded {2}\d+ ms {2}0c\r\n/),
      lineAt(plain, /\n {2}run succeeded\r\n/),
      lineAt(plain, /\nRun \S+ {2}succeeded {2}\(3 step rows/),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // The spinner: drawn in place (carriage return, erase line) while an attempt runs, and erased before the next line.
    expect(screen).toMatch(new RegExp(`\\r${ESC}\\[2K {2}${SPINNER.source}`));
    expect(screen).toContain(`\r${ESC}[2K  flaky  fail_trigger  ${ESC}[31mfailed`);
    // The summary does not list the steps again: they were shown live.
    expect(plain).not.toContain("  steps:");
  });

  it("with NO_COLOR: the same lines, no spinner and not one escape code", async () => {
    const result = await runOnTerminal([...run, "--plan", writePlan(home, flakyThenPick)], { ...env, NO_COLOR: "1" });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).not.toContain(ESC);
    expect(result.stdout).not.toMatch(SPINNER);
    expect(result.stdout).not.toContain("\r  ");
    const start = lineAt(result.stdout, /\n {2}flaky {2}fail_trigger {2}started {2}attempt 1 {2}allow/);
    expect(lineAt(result.stdout, /\n {2}flaky {2}fail_trigger {2}failed/)).toBeGreaterThan(start);
  });

  it("with --json: the run as JSON and nothing else, even on a terminal", async () => {
    const result = await runOnTerminal([...run, "--plan", writePlan(home, flakyThenPick), "--json"], env);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).not.toContain(ESC);
    expect(JSON.parse(result.stdout.replaceAll("\r\n", "\n"))).toMatchObject({ status: "succeeded", steps: expect.any(Array) });
  });
});

// Each test starts `aos` processes on the embedded database, slow to open on a loaded machine.
describe("aos run and aos get-run --watch through a pipe, on the embedded database", { timeout: 180_000 }, () => {
  const home = tempHome();
  const env = { AOS_HOME: home, AOS_STEP_RETRY_BASE_MS: "5", AOS_STEP_RETRY_MAX_MS: "20" };
  let runId: string;

  beforeAll(async () => {
    const ran = await runCli(["run", "--tenant-id", "pipe", "--goal", "g", "--plan", writePlan(home, flakyThenPick)], env);
    expect(ran.code, ran.stderr).toBe(0);
    runId = /^Run (\S+) {2}succeeded/m.exec(ran.stdout)?.[1] as string;
    // Piped: no live lines, no escape codes; the summary lists the steps.
    expect(ran.stdout).not.toContain(ESC);
    expect(ran.stdout).not.toContain("started  attempt");
    expect(ran.stdout).toContain("  steps:");
  }, 180_000);

  it("--watch of a finished run prints its attempts, start before end, and the run's end; exit as the run ended", async () => {
    const watched = await runCli(["get-run", runId, "--tenant-id", "pipe", "--watch"], env);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).not.toContain(ESC);
    const lines = watched.stdout.split("\n");
    expect(lines.slice(0, 7).map((line) => line.replace(/\d+ ms/, "N ms").replace(/INJECTED_FAILURE: .*/, "INJECTED_FAILURE"))).toEqual([
      "  flaky  fail_trigger  started  attempt 1  allow (default)",
      "  flaky  fail_trigger  failed  N ms  2c  7 tokens  INJECTED_FAILURE",
      "  flaky  fail_trigger  started  attempt 2  allow (default)",
      "  flaky  fail_trigger  succeeded  N ms  2c  7 tokens (attempt 2)",
      "  pick  json_transform  started  attempt 1  allow (default)",
      "  pick  json_transform  succeeded  N ms  0c",
      "  run succeeded",
    ]);
    expect(lines[7]).toMatch(new RegExp(`^Run ${runId} {2}succeeded`));

    const failed = await runCli(["run", "--tenant-id", "pipe", "--goal", "boom", "--plan", writePlan(home, { steps: [{ step_id: "boom", skill: "fail_trigger", params: { retryable: false } }] }, "boom.json"), "--json"], env);
    const failedWatch = await runCli(["get-run", JSON.parse(failed.stdout).run_id, "--tenant-id", "pipe", "--watch"], env);
    expect(failedWatch.code).toBe(1);
    expect(failedWatch.stdout).toContain("  run failed");
  });

  it("--watch --json prints each event as one line of JSON, the end last", async () => {
    const watched = await runCli(["get-run", runId, "--tenant-id", "pipe", "--watch", "--json"], env);
    expect(watched.code, watched.stderr).toBe(0);
    const events = watched.stdout.trim().split("\n").map((line) => JSON.parse(line) as { event: string; id?: number; data: Record<string, unknown> });
    expect(events.map((event) => event.event)).toEqual(["step_started", "step", "step_started", "step", "step_started", "step", "status", "end"]);
    expect(events[0]?.data).toMatchObject({ run_id: runId, step_id: "flaky", skill: "fail_trigger", attempt: 1, decision: { action: "allow" } });
    expect(events[1]).toMatchObject({ id: 0, data: { seq: 0, status: "failed" } });
    expect(events.at(-1)).toEqual({ event: "end", data: { run_id: runId, status: "succeeded" } });
  });

  it("--watch is tenant-scoped: another tenant's run is Run not found", async () => {
    // The other tenant exists (a tenant that does not is refused before any run is looked up).
    expect((await runCli(["api-keys", "create", "--tenant-id", "someone-else", "--name", "k"], env)).code).toBe(0);
    const foreign = await runCli(["get-run", runId, "--tenant-id", "someone-else", "--watch"], env);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain(`Run not found: ${runId}`);
    expect(foreign.stdout).toBe("");
  });
});

describe("aos get-run --watch follows a run another process executes", { ...onServer(), timeout: 180_000 }, () => {
  const home = tempHome();
  let db: TestDatabase;
  let server: LoopbackServer;
  const held: ServerResponse[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await (serverBackend() as NonNullable<ReturnType<typeof serverBackend>>).open();
    server = await startLoopbackServer((_req, res) => held.push(res));
    env = { AOS_HOME: home, DATABASE_URL: db.url as string, AOS_EGRESS_ALLOW: "127.0.0.1" };
  });
  afterAll(async () => {
    for (const res of held) if (!res.writableEnded) sendJson(res, 200, {});
    await server?.close();
    await db?.close();
  });

  it("prints the held step's start while it runs and its end once it is answered; Ctrl-C stops a watcher with 130", async () => {
    const plan = { steps: [{ step_id: "call", skill: "http_call", params: { url: `${server.url}/held`, method: "GET" } }] };
    const executing = spawnCli(["run", "--tenant-id", "other", "--goal", "call", "--plan", writePlan(home, plan)], env);
    const runId = await waitFor("the run exists", async () => {
      const { rows } = await db.pool.query("select id from runs where tenant_id = 'other'");
      return rows[0]?.id as string | undefined;
    });
    const watcher = spawnCli(["get-run", runId, "--tenant-id", "other", "--watch"], env);
    const stopped = spawnCli(["get-run", runId, "--tenant-id", "other", "--watch"], env);
    const startLine = "  call  http_call  started  attempt 1  allow (default)";
    await waitFor("both watchers show the start", async () => watcher.output.stdout.includes(startLine) && stopped.output.stdout.includes(startLine));
    await waitFor("the call reaches the server", async () => held.length === 1);
    expect(watcher.output.stdout).not.toContain("succeeded");

    stopped.child.kill("SIGINT");
    expect(await stopped.exited).toBe(130);
    expect(stopped.output.stderr).toContain(`stopped watching run ${runId}; it goes on`);

    sendJson(held[0]!, 200, { ok: true });
    expect(await watcher.exited, watcher.output.stderr).toBe(0);
    expect(await executing.exited, executing.output.stderr).toBe(0);
    const out = watcher.output.stdout;
    expect(out).not.toContain(ESC);
    const order = [
      lineAt(out, new RegExp(`^Run ${runId} {2}(queued|running)\\n`, "m")),
      lineAt(out, /^ {2}call {2}http_call {2}started {2}attempt 1/m),
      lineAt(out, /^ {2}call {2}http_call {2}succeeded {2}\d+ ms {2}0c$/m),
      lineAt(out, /^ {2}run succeeded$/m),
      lineAt(out, new RegExp(`^Run ${runId} {2}succeeded {2}\\(2 step rows`, "m")),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(out).toContain("proof: VERIFIED");
  });
});
