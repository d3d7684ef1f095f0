import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { loadMigrations } from "../src/db/migrate.js";
import { loadVerifiers } from "../src/trace/key-store.js";
import { encodeVerifierKey } from "../src/trace/signed-note.js";
import { daysAgo, runCli, tempHome, writePlan } from "./support/cli.js";
import { onServer, serverBackend, type TestDatabase } from "./support/databases.js";

const transformPlan = {
  steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: { b: [1, 2] } }, mapping: { last: "a.b[-1]" } } }],
};
const failingPlan = { steps: [{ step_id: "boom", skill: "fail_trigger", params: { retryable: false, message: "no luck" } }] };

const RUN_JSON_KEYS = [
  "run_id",
  "tenant_id",
  "agent_id",
  "origin_system_id",
  "goal",
  "status",
  "attempts",
  "error_message",
  "plan",
  "steps",
  "trace_id",
  "created_at",
  "started_at",
  "completed_at",
  "duration_ms",
];

describe("the aos CLI on the embedded database", () => {
  const home = tempHome();
  const env = { AOS_HOME: home };

  it("runs a plan end to end and prints the run as JSON; exit 0", async () => {
    const result = await runCli(["run", "--tenant-id", "acme", "--goal", "pick", "--plan", writePlan(home, transformPlan), "--json"], env);
    // The first run makes tenant acme, and says so on stderr; stdout stays the run's JSON alone.
    expect(result.stderr).toBe("note: created tenant acme: it did not exist before this command\n");
    expect(result.code).toBe(0);
    const run = JSON.parse(result.stdout);
    expect(Object.keys(run)).toEqual(expect.arrayContaining(RUN_JSON_KEYS));
    expect(run).toMatchObject({ tenant_id: "acme", origin_system_id: "cus-cli", status: "succeeded", attempts: 1 });
    expect(run.steps).toEqual([expect.objectContaining({ seq: 0, step_index: 0, attempt: 1, skill: "json_transform", status: "succeeded" })]);
    expect(run.trace_id).toBe(`trace_${run.run_id}`);

    const shown = await runCli(["get-run", run.run_id, "--tenant-id", "acme"], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("succeeded");
    expect(shown.stdout).toContain("proof: VERIFIED");
    const evidence = await runCli(["evidence", run.run_id, "--tenant-id", "acme"], env);
    expect(evidence.stdout.split("\n").slice(0, 2)).toEqual([`Evidence for run ${run.run_id}: VALID (score 1.00), recorded when it ended`, "  proof now: VERIFIED"]);
    const listed = await runCli(["list-runs", "--tenant-id", "acme", "--json"], env);
    expect(JSON.parse(listed.stdout).map((row: { run_id: string }) => row.run_id)).toContain(run.run_id);
    const misspelt = await runCli(["get-run", run.run_id, "--tenant-id", "acmee"], env);
    expect(misspelt.code).toBe(1);
    expect(misspelt.stderr).toContain('error: --tenant-id: no such tenant "acmee" (known: acme');
    expect((await runCli(["create-agent", "--tenant-id", "someone-else", "--name", "x"], env)).code).toBe(0);
    const hidden = await runCli(["get-run", run.run_id, "--tenant-id", "someone-else"], env);
    expect(hidden.code).toBe(1);
    expect(hidden.stderr).toContain(`Run not found: ${run.run_id}`);
  });

  it("exits 1 on a failed run and says why, in both output forms", async () => {
    const plan = writePlan(home, failingPlan, "failing.json");
    const json = await runCli(["run", "--tenant-id", "acme", "--goal", "fail", "--plan", plan, "--json"], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "failed", error_message: "step_failed:boom:no luck" });
    const human = await runCli(["run", "--tenant-id", "acme", "--goal", "fail", "--plan", plan], env);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain("failed");
    expect(human.stdout).toContain("Error: step_failed:boom:no luck");
  });

  it("creates and lists agents, and refuses another tenant's agent", async () => {
    const created = await runCli(["create-agent", "--tenant-id", "acme", "--name", "scout", "--budget-cents", "500", "--json"], env);
    expect(created.code).toBe(0);
    const agent = JSON.parse(created.stdout);
    expect(agent).toMatchObject({ tenant_id: "acme", name: "scout", budget_cents: 500 });
    const listed = await runCli(["list-agents", "--tenant-id", "acme"], env);
    expect(listed.stdout).toContain("scout");
    const foreign = await runCli(["run", "--tenant-id", "other", "--agent-id", agent.agent_id, "--goal", "g"], env);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain(`Agent not found: ${agent.agent_id}`);
  });

  it("gives bad input a one-line message and a usage exit code, without a stack trace", async () => {
    const missing = await runCli(["run", "--goal", "g"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--tenant-id");
    const notJson = await runCli(["run", "--tenant-id", "acme", "--goal", "g", "--plan", writePlan(home, "{ nope", "bad.json")], env);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/plan file .* is not JSON/);
    const wrongShape = await runCli(
      ["run", "--tenant-id", "acme", "--goal", "g", "--plan", writePlan(home, { steps: [{ skill: "json_transform" }] }, "shape.json")],
      env,
    );
    // An explicit plan that does not validate is a usage error, and no run is recorded for it.
    expect(wrongShape.code).toBe(2);
    expect(wrongShape.stderr).toMatch(/^error: the plan does not validate \(1 issue; nothing was created\): steps\[0\]\.step_id.*\nhint: Fix the plan's steps/);
    const badBudget = await runCli(["create-agent", "--tenant-id", "acme", "--name", "x", "--budget-cents", "1.5"], env);
    expect(badBudget.code).toBe(2);
    for (const result of [missing, notJson, wrongShape, badBudget]) expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a data directory another process holds", async () => {
    const lockedHome = tempHome();
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      writeFileSync(join(lockedHome, "aos.lock"), `${holder.pid}\n`);
      const result = await runCli(["list-agents", "--tenant-id", "acme"], { AOS_HOME: lockedHome });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`database in use by pid ${holder.pid}`);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("reports an unreachable DATABASE_URL without leaking its password", async () => {
    const result = await runCli(["list-agents", "--tenant-id", "acme"], {
      AOS_HOME: home,
      DATABASE_URL: "postgres://aos:s3cret-pw@127.0.0.1:1/aos",
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot reach PostgreSQL at 127.0.0.1:1/aos (connection refused)");
    expect(result.stderr + result.stdout).not.toContain("s3cret-pw");
  });

  it("describes skills and migrations", async () => {
    const skills = await runCli(["list-skills", "--json"], env);
    expect(JSON.parse(skills.stdout).map((skill: { name: string }) => skill.name)).toEqual(
      expect.arrayContaining(["http_call", "json_transform", "fail_trigger"]),
    );
    const contract = JSON.parse((await runCli(["skill", "http_call", "--json"], env)).stdout);
    expect(contract.input_schema.properties.url).toBeDefined();
    expect((await runCli(["skill", "nope"], env)).code).toBe(1);
    const status = await runCli(["migrate", "--status", "--json"], env);
    const latest = loadMigrations().length;
    expect(JSON.parse(status.stdout)).toMatchObject({ head: latest, latest, pending: [] });
  });
});

describe("aos prune on the embedded database", () => {
  const home = tempHome();
  const env = { AOS_HOME: home };

  // A dozen child processes, each opening the embedded database: slow on a loaded machine, hence the longer timeout.
  it("prunes old runs' payloads, keeps their proofs verifying with the pruned wording, and is idempotent", { timeout: 240_000 }, async () => {
    // Runs recorded 40 days ago are recorded with those times throughout (a shifted clock in the child process):
    // moving a finished run's times in the database instead would be tampering, which prune refuses.
    const run = async (tenant: string, clock: Record<string, string> = {}) =>
      JSON.parse((await runCli(["run", "--tenant-id", tenant, "--goal", "g", "--plan", writePlan(home, transformPlan), "--json"], { ...env, ...clock })).stdout);
    const old = await run("keep", daysAgo(40));
    await run("keep");
    await run("other", daysAgo(40));

    // Two runs of tenant keep, one of them recent: only the old one is in scope, and nothing of tenant other.
    const dry = await runCli(["prune", "--older-than", "30d", "--tenant-id", "keep", "--dry-run", "--json"], env);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, tenant_id: "keep", older_than: "30d", runs: 1, steps: 1 });
    const pruned = await runCli(["prune", "--older-than", "30d", "--tenant-id", "keep"], env);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^Pruned 1 step of 1 run: tenant keep's runs that finished before /);

    const proof = await runCli(["proof", old.run_id, "--tenant-id", "keep"], env);
    expect(proof.code).toBe(0);
    expect(proof.stdout).toContain(
      "VERIFIED (payloads pruned for 1 of 1 steps: their headers are proven, their content is not there to hash)",
    );
    const bundle = join(home, "old.aosproof.json");
    expect((await runCli(["export-proof", old.run_id, "--tenant-id", "keep", "-o", bundle], env)).code).toBe(0);
    const vkey = encodeVerifierKey(loadVerifiers(loadConfig(env))[0]!);
    const offline = await runCli(["verify", bundle, "--key", vkey, "--json"], { AOS_HOME: join(home, "absent") });
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ verification_status: "VERIFIED", pruned_steps: 1, step_count: 1 });
    expect((await runCli(["get-run", old.run_id, "--tenant-id", "keep"], env)).stdout).toContain("(payload pruned)");

    // Every tenant's runs: not without --yes when no one is at a terminal to confirm; nothing is pruned then.
    const unconfirmed = await runCli(["prune", "--older-than", "30d"], env);
    expect([unconfirmed.code, unconfirmed.stdout]).toEqual([2, ""]);
    expect(unconfirmed.stderr).toMatch(/^error: without --tenant-id, prune removes payloads of every tenant's runs older than 30d; confirm with --yes/);
    expect(unconfirmed.stderr).toMatch(/\nhint: /);
    const everyone = await runCli(["prune", "--older-than", "30d", "--yes"], env);
    expect(everyone.stdout).toMatch(/^Pruned 1 step of 1 run: every tenant's runs that finished before /);
    const again = await runCli(["prune", "--older-than", "30d", "-y"], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Nothing to prune/);
  });

  it("refuses a malformed or missing --older-than with a usage exit code and the accepted forms", async () => {
    for (const age of ["30", "6m", "0d", "thirty days"]) {
      const bad = await runCli(["prune", "--older-than", age, "--tenant-id", "keep"], env);
      expect([age, bad.code]).toEqual([age, 2]);
      expect(bad.stderr).toMatch(age === "6m" ? /^error: --older-than must be unambiguous: .* write 6min for minutes or 180d for months/ : /like 30d, 12h, 90min, 45s or 2w/);
      expect(bad.stderr).not.toMatch(/\n\s+at /);
    }
    const missing = await runCli(["prune"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--older-than");
  });
});

const server = serverBackend();

describe("the aos CLI on the PostgreSQL server (DATABASE_URL)", onServer(), () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await (server as NonNullable<typeof server>).open();
  });
  afterAll(async () => db?.close());

  it("runs a plan end to end against the server", async () => {
    const home = tempHome();
    const result = await runCli(["run", "--tenant-id", "acme", "--goal", "pick", "--plan", writePlan(home, transformPlan), "--json"], {
      AOS_HOME: home,
      DATABASE_URL: db.url,
    });
    expect(result.code).toBe(0);
    const run = JSON.parse(result.stdout);
    const { rows } = await db.pool.query("select status from runs where id = $1", [run.run_id]);
    expect(rows).toEqual([{ status: "succeeded" }]);
  });
});
