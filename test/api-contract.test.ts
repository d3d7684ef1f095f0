import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { clientTypes } from "../scripts/client-types.js";
import { ApiMetrics } from "../src/api/metrics.js";
import type { buildApi } from "../src/api/server.js";
import { RUN_STATUSES } from "../src/glossary.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { claimAndExecute } from "../src/worker/claim.js";
import { Contract, contractCheckedApi } from "./support/contract.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runnerDeps, testConfig } from "./support/harness.js";

// The API's contract as clients read it: the served spec passes Redocly's recommended rules, the SDK's types are the
// spec's, the contract check catches what drifts, and where the spec draws a limit the server draws the same one.

const run = promisify(execFile);
const config = testConfig();
type Spec = { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref: string } }> } }>>; components: { schemas: Record<string, Record<string, unknown>> } };

describeOnBackends("the API's contract on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let spec: Spec;
  let key: string;
  const tenantId = `contract-${backend.name}`;
  const call = (method: "GET" | "POST" | "PATCH", url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...headers }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

  beforeAll(async () => {
    db = await backend.open();
    key = (await createApiKey(db, { tenantId, name: "contract" })).key;
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
    spec = (await app.inject({ method: "GET", url: "/docs/openapi.json" })).json() as Spec;
  });
  afterEach(() => {
    const broken = contract.violations.splice(0);
    expect(broken).toEqual([]);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it("passes Redocly's recommended rules with no error and no warning", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "aos-openapi-"));
    try {
      const file = join(dir, "openapi.json");
      writeFileSync(file, JSON.stringify(spec));
      const cli = join(process.cwd(), "node_modules", "@redocly", "cli", "bin", "cli.js");
      const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" };
      const { stdout, stderr } = await run(process.execPath, [cli, "lint", "--extends", "recommended", "--format", "json", file], { cwd: dir, env, maxBuffer: 16 << 20 });
      const report = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { totals: { errors: number; warnings: number }; problems: { message: string }[] };
      expect({ totals: report.totals, problems: report.problems.map((problem) => problem.message), stderr: stderr.includes("error") }).toEqual({
        totals: expect.objectContaining({ errors: 0, warnings: 0 }),
        problems: [],
        stderr: false,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives the SDK the spec's types: src/client/api-types.ts is what the served spec generates", () => {
    const onDisk = readFileSync(new URL("../src/client/api-types.ts", import.meta.url), "utf8");
    expect(onDisk, "run `npx tsx scripts/client-types.ts`").toBe(clientTypes(spec));
  });

  it("catches a response that drifts: an unnamed field, an undeclared status or code, a missing Retry-After", () => {
    const check = new Contract(spec as unknown as Record<string, unknown>);
    const json = { "content-type": "application/json; charset=utf-8" };
    const envelope = (code: string) => JSON.stringify({ error: { code, message: "m", category: "VALIDATION", retryable: false, details: {} } });
    check.check({ method: "GET", url: "/healthz", status: 200, headers: json, body: JSON.stringify({ status: "ok", uptime: 1 }) });
    check.check({ method: "GET", url: "/api/v1/runs/r1", status: 418, headers: json, body: envelope("VALIDATION_ERROR") });
    check.check({ method: "GET", url: "/api/v1/runs/r1", status: 404, headers: json, body: envelope("SKILL_NOT_FOUND") });
    check.check({ method: "GET", url: "/api/v1/agents", status: 429, headers: json, body: envelope("TENANT_RATE_LIMITED") });
    check.check({ method: "GET", url: "/api/v1/keys", status: 200, headers: { "content-type": "text/plain" }, body: "x" });
    expect(check.violations).toEqual([
      expect.stringMatching(/^GET \/healthz → 200: .*additional properties.*uptime/),
      expect.stringMatching(/declares no 418/),
      expect.stringMatching(/^GET \/api\/v1\/runs\/r1 → 404: .*must be equal to one of the allowed values/),
      expect.stringMatching(/required header Retry-After is missing/),
      expect.stringMatching(/sent text\/plain, the spec declares application\/json/),
    ]);
  });

  it("lists every run status in the spec and accepts each; any other status is a 400", async () => {
    const parameters = (spec.paths["/api/v1/runs"]?.get as unknown as { parameters: { name: string; schema: { enum?: string[] } }[] }).parameters;
    expect(parameters.find((parameter) => parameter.name === "status")?.schema.enum).toEqual([...RUN_STATUSES]);
    for (const status of RUN_STATUSES) expect([status, (await call("GET", `/api/v1/runs?status=${status}`)).statusCode]).toEqual([status, 200]);
    expect((await call("GET", "/api/v1/runs?status=finished")).statusCode).toBe(400);
  });

  it("counts lengths in code points, refuses whitespace alone and HUMAN without actor_id, as the spec states", async () => {
    const schemas = spec.components.schemas;
    expect(schemas.CreateRunInput).toMatchObject({ then: { required: ["actor_id"] }, properties: { goal: { pattern: "\\S" }, origin_system_id: { pattern: "\\S", maxLength: 100 } } });
    const ajv = new Ajv2020({ strict: false });
    const body = (extra: Record<string, unknown>) => ({ goal: "pick b", plan: { steps: [{ step_id: "s", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] }, ...extra });
    const cases: [Record<string, unknown>, number][] = [
      [{ origin_system_id: "🛰".repeat(100) }, 202],
      [{ origin_system_id: "🛰".repeat(101) }, 400],
      [{ origin_system_id: "   " }, 400],
      [{ goal: " \n\t " }, 400],
      [{ actor_type: "HUMAN" }, 400],
      [{ actor_type: "HUMAN", actor_id: "alice" }, 202],
      [{ actor_type: "SERVICE" }, 202],
    ];
    for (const [extra, status] of cases) {
      const specSays = ajv.validate(refsResolved(schemas, "CreateRunInput"), body(extra)) ? 202 : 400;
      const response = await call("POST", "/api/v1/runs", body(extra));
      expect([extra, specSays, response.statusCode]).toEqual([extra, status, status]);
    }
    for (const idempotencyKey of ["k".repeat(256), "   "]) expect((await call("POST", "/api/v1/runs", body({}), { "idempotency-key": idempotencyKey })).statusCode).toBe(400);
    expect((await call("POST", "/api/v1/runs", body({}), { "idempotency-key": "k".repeat(255) })).statusCode).toBe(202);
  });

  it("reads an integer in a query or path only as the spec writes one: digits, no fraction, exponent, padding or leading zero", async () => {
    expect((await call("GET", "/api/v1/runs?limit=2")).statusCode).toBe(200);
    for (const limit of ["1.0", "1e2", "%201", "01", "+1", "0x10", ""]) {
      const response = await call("GET", `/api/v1/runs?limit=${limit}`);
      expect([limit, response.statusCode, response.json().error.code]).toEqual([limit, 400, "VALIDATION_ERROR"]);
    }
    const step = await call("GET", "/api/v1/runs/00000000-0000-0000-0000-000000000000/steps/1e0/inclusion-proof");
    expect(step.statusCode).toBe(400);
  });

  it("the database briefly away is a 503 DATABASE_UNAVAILABLE with Retry-After, retryable, as the spec declares; not a 500", async () => {
    // A transient condition from the database itself (a serialization failure), raised where creating a run writes.
    await db.pool.query(`create function contract_transient() returns trigger language plpgsql as $$
begin raise exception 'injected serialization failure' using errcode = '40001'; end $$`);
    await db.pool.query("create trigger contract_transient before insert on runs for each row execute function contract_transient()");
    try {
      const plan = { steps: [{ step_id: "s", skill: "json_transform", params: { payload: {}, mapping: {} } }] };
      const response = await call("POST", "/api/v1/runs", { goal: "g", plan }, { "idempotency-key": "contract-transient" });
      expect(response.statusCode).toBe(503);
      expect(response.headers["retry-after"]).toBe("1");
      expect(response.json().error).toMatchObject({ code: "DATABASE_UNAVAILABLE", retryable: true, message: expect.stringMatching(/serialization failure.*retry the request/) });
    } finally {
      await db.pool.query("drop trigger contract_transient on runs");
    }
    // Retried with the same Idempotency-Key once the database is back: one run.
    const plan = { steps: [{ step_id: "s", skill: "json_transform", params: { payload: {}, mapping: {} } }] };
    const retried = await call("POST", "/api/v1/runs", { goal: "g", plan }, { "idempotency-key": "contract-transient" });
    expect(retried.statusCode).toBe(202);
  });

  it("serves only the methods the spec declares: HEAD of a GET route is 404 ROUTE_NOT_FOUND, not an undeclared 200", async () => {
    for (const [path, methods] of Object.entries(spec.paths)) {
      if (!("get" in methods) || path.includes("{")) continue;
      const response = await app.inject({ method: "HEAD", url: path, headers: { authorization: `Bearer ${key}` } });
      expect([path, response.statusCode]).toEqual([path, 404]);
    }
  });

  it("answers an inclusion proof past the last leaf with 404 STEP_NOT_FOUND, which the spec declares", async () => {
    const accepted = await call("POST", "/api/v1/runs", { goal: "g", plan: { steps: [{ step_id: "s", skill: "json_transform", params: { payload: {}, mapping: {} } }] } });
    const runId = accepted.json().run_id as string;
    await claimAndExecute(runnerDeps(db, config), runId, "contract-worker");
    expect((await call("GET", `/api/v1/runs/${runId}/steps/1/inclusion-proof`)).statusCode).toBe(200);
    const past = await call("GET", `/api/v1/runs/${runId}/steps/2/inclusion-proof`);
    expect(past.statusCode).toBe(404);
    expect(past.json().error).toMatchObject({ code: "STEP_NOT_FOUND", details: { run_id: runId, seq: 2 } });
  });
});

/** One component with every `$ref` inlined, for a validator that holds no other schema. */
function refsResolved(schemas: Record<string, Record<string, unknown>>, name: string): Record<string, unknown> {
  const inline = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(inline);
    if (value === null || typeof value !== "object") return value;
    const ref = (value as { $ref?: string }).$ref;
    if (ref !== undefined) return inline(schemas[ref.replace("#/components/schemas/", "")]);
    return Object.fromEntries(Object.entries(value).map(([field, inner]) => [field, inline(inner)]));
  };
  return inline(schemas[name]) as Record<string, unknown>;
}
