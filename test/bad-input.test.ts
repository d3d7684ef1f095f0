import { writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import { API_ROUTES, buildApi } from "../src/api/server.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { runCli } from "./support/cli.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { type TestDatabase, describeOnBackends } from "./support/databases.js";
import { testConfig } from "./support/harness.js";
import { tempDir } from "./support/temp-dirs.js";

/**
 * Text nothing can store or walk — a NUL, an unpaired surrogate, JSON nested 10,000 deep — sent to every route the
 * API declares (enumerated from its route table, so a new route is covered) and to every CLI verb that reads a JSON
 * file: a 400 in the envelope (exit 2), naming where, never a 500, and no row written. Then ids of every length
 * around the spec's limit, malformed percent-encodings and headers past Node's limit, to every operation the served
 * spec lists: a 4xx in the envelope that the spec declares, and no row written.
 */
const config = testConfig();
const NUL = "a\u0000b";
const deep = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

interface SpecOperation {
  method: "GET" | "POST" | "PATCH";
  path: string;
  parameters?: { name: string; in: string; schema: { type?: string; maxLength?: number } }[];
  requestBody?: { content: { "application/json": { schema: { $ref?: string; required?: string[] } } } };
}

/** Every operation of the served spec, with a body holding its schema's required fields (all strings here). */
function operationsOf(spec: { paths: Record<string, Record<string, SpecOperation>>; components: { schemas: Record<string, { required?: string[] }> } }) {
  return Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const schema = operation.requestBody?.content["application/json"].schema;
      const named = schema?.$ref === undefined ? schema : spec.components.schemas[schema.$ref.replace("#/components/schemas/", "")];
      const body = schema === undefined ? undefined : JSON.stringify(Object.fromEntries((named?.required ?? []).map((field) => [field, "x"])));
      return { ...operation, method: method.toUpperCase() as "GET" | "POST" | "PATCH", path, body };
    }),
  );
}

function decodedOrUndefined(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** A request over a real socket: only Node's HTTP parser refuses headers past its limit; inject never parses. */
function sendRaw(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, headers }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** The three bodies, as raw JSON text (a lone surrogate cannot survive JSON.stringify as one). */
const BODIES: [string, string, RegExp][] = [
  ["a NUL", JSON.stringify({ goal: NUL, name: NUL, by: NUL }), /^body\.\w+: holds a NUL character/],
  ["a lone surrogate", '{"goal":"x\\ud800","name":"x\\ud800","by":"x\\ud800"}', /^body\.\w+: holds an unpaired UTF-16 surrogate/],
  ["nesting 10,000 deep", `{"plan":${deep(10_000)},"goal":"g","name":"n","by":"b"}`, /^body\.plan.*: nests deeper than 64 levels/],
];

describeOnBackends("bad input on every route and verb, on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  let key: string;
  const tenantId = `bad-input-${backend.name}`;

  beforeAll(async () => {
    db = await backend.open();
    key = (await createApiKey(db, { tenantId, name: "fuzz" })).key;
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) }));
  });
  afterEach(() => {
    const broken = contract.violations.splice(0);
    expect(broken).toEqual([]);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  const counts = async () => (await db.pool.query("select (select count(*) from runs)::int as runs, (select count(*) from agents)::int as agents, (select count(*) from run_approvals)::int as approvals")).rows[0];
  const headers = { authorization: "Bearer KEY", "content-type": "application/json" };
  const send = (method: "GET" | "POST" | "PATCH", url: string, payload?: string) =>
    app.inject({ method, url, headers: { ...headers, authorization: `Bearer ${key}` }, ...(payload === undefined ? {} : { payload }) });

  it("a NUL or an unpaired surrogate in any path parameter or query value is a 400 naming it", async () => {
    const before = await counts();
    const checked: string[] = [];
    for (const route of API_ROUTES.filter((spec) => spec.auth)) {
      for (const [what, value, reason] of [
        ["NUL", "%00", /holds a NUL character/],
        ["surrogate", "%ED%A0%80", /./],
      ] as const) {
        const params = route.url.match(/:(\w+)/g) ?? [];
        if (params.length > 0) {
          const url = route.url.replace(/:(\w+)/g, `x${value}y`);
          const response = await send(route.method, url, route.method !== "GET" ? "{}" : undefined);
          expect([route.url, what, response.statusCode]).toEqual([route.url, what, 400]);
          if (what === "NUL") expect(response.json().error).toMatchObject({ code: "VALIDATION_ERROR", message: expect.stringMatching(new RegExp(`^path\\.\\w+: ${reason.source}`)) });
          checked.push(`${route.method} ${route.url} path ${what}`);
        }
        const query = await send(route.method, `${route.url.replace(/:(\w+)/g, "x")}?status=${value}`, route.method !== "GET" ? "{}" : undefined);
        expect([route.url, what, "query", query.statusCode]).toEqual([route.url, what, "query", 400]);
      }
    }
    expect(checked.length).toBeGreaterThan(10);
    expect(await counts()).toEqual(before);
  });

  it.each(BODIES)("%s anywhere in a body is a 400 naming the field, on every route that takes one", async (_what, body, reason) => {
    const before = await counts();
    const posts = API_ROUTES.filter((spec) => spec.auth && spec.method !== "GET");
    expect(posts.length).toBeGreaterThan(5);
    for (const route of posts) {
      const response = await send(route.method, route.url.replace(/:(\w+)/g, "00000000-0000-0000-0000-000000000000"), body);
      expect([route.url, response.statusCode]).toEqual([route.url, 400]);
      expect([route.url, response.json().error.code, response.json().error.message]).toEqual([route.url, "VALIDATION_ERROR", expect.stringMatching(reason)]);
      expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    expect(await counts()).toEqual(before);
  });

  it("bytes that are not UTF-8 in a body (0xFF, an encoded surrogate, an overlong NUL) are a 400 on every route that takes one, never stored as U+FFFD", async () => {
    const before = await counts();
    const posts = API_ROUTES.filter((spec) => spec.auth && spec.method !== "GET");
    for (const bad of [[0xff, 0xfe], [0xed, 0xa0, 0x80], [0xc0, 0x80]]) {
      const payload = Buffer.concat([Buffer.from('{"goal":"a'), Buffer.from(bad), Buffer.from('","name":"n","by":"b"}')]);
      for (const route of posts) {
        const url = route.url.replace(/:(\w+)/g, "00000000-0000-0000-0000-000000000000");
        const response = await app.inject({ method: route.method, url, headers: { ...headers, authorization: `Bearer ${key}` }, payload });
        expect([route.url, bad, response.statusCode, response.json().error.message]).toEqual([route.url, bad, 400, "body: is not valid UTF-8; send the JSON encoded as UTF-8"]);
      }
    }
    expect(await counts()).toEqual(before);
  });

  it("ids of 101, 200, 201 and 10,000 characters and malformed percent-encodings in every path parameter of the spec: a declared 4xx in the envelope", async () => {
    const before = await counts();
    const spec = (await app.inject({ method: "GET", url: "/docs/openapi.json" })).json();
    const placeholders: Record<string, string> = { run_id: "00000000-0000-0000-0000-000000000000", agent_id: "no-such-agent", seq: "0", skill_id: "no_such_skill" };
    const withParams = operationsOf(spec).filter((operation) => operation.path.includes("{"));
    expect(withParams.length).toBeGreaterThan(12);
    for (const operation of withParams) {
      for (const parameter of (operation.parameters ?? []).filter((candidate) => candidate.in === "path")) {
        // 200 satellites percent-encoded are 2,400 characters: the longest id the spec allows, as sent.
        for (const value of ["a".repeat(101), "a".repeat(200), "a".repeat(201), "a".repeat(10_000), encodeURIComponent("🛰".repeat(200)), "x%zzy", "x%E0%A4%A"]) {
          const url = operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => (name === parameter.name ? value : (placeholders[name] as string)));
          const response =
            operation.body === undefined
              ? await app.inject({ method: operation.method, url, headers: { authorization: `Bearer ${key}` } })
              : await send(operation.method, url, operation.body);
          const what = [operation.method, operation.path, parameter.name, value.length];
          expect([...what, response.statusCode >= 400 && response.statusCode < 500]).toEqual([...what, true]);
          expect(response.json().error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
          // What the spec allows is served: a string id within its maxLength is looked up (404), never refused.
          const decoded = decodedOrUndefined(value);
          const allowed = parameter.schema.type === "string" && decoded !== undefined && [...decoded].length <= (parameter.schema.maxLength ?? 0);
          if (allowed) expect([...what, response.statusCode]).toEqual([...what, 404]);
          if (value.length === 10_000) expect([...what, response.json().error.code]).toEqual([...what, "URI_TOO_LONG"]);
          if (decoded === undefined) expect([...what, response.json().error.code]).toEqual([...what, "VALIDATION_ERROR"]);
        }
      }
    }
    expect(await counts()).toEqual(before);
  });

  it("headers past Node's limit, to every operation of the spec over a real socket: 431 in the envelope the spec declares", async () => {
    const before = await counts();
    const spec = (await app.inject({ method: "GET", url: "/docs/openapi.json" })).json();
    const address = await app.listen({ port: 0, host: "127.0.0.1" });
    const operations = operationsOf(spec);
    // One operation per method and path: upstream's twin of one of ours is that operation's x-upstream-dialect.
    expect(operations.length).toBe(new Set(API_ROUTES.map((route) => `${route.method} ${route.url}`)).size);
    for (const operation of operations) {
      const url = `${address}${operation.path.replace(/\{(\w+)\}/g, "x")}`;
      const response = await sendRaw(url, operation.method, { authorization: `Bearer ${key}`, "x-filler": "a".repeat(20_000) });
      expect([operation.method, operation.path, response.status]).toEqual([operation.method, operation.path, 431]);
      expect(JSON.parse(response.body).error).toMatchObject({ code: "HEADERS_TOO_LARGE", retryable: false });
      contract.check({ method: operation.method, url: new URL(url).pathname, status: response.status, headers: response.headers, body: response.body });
    }
    expect(await counts()).toEqual(before);
  });

  it("every CLI verb that reads a JSON file refuses such text with exit 2, naming the field, before anything exists", { timeout: 120_000 }, async () => {
    const dir = tempDir("aos-bad-input");
    const files: [string, string][] = [
      ["nul", JSON.stringify({ steps: [{ step_id: "s", skill: "json_transform", params: { payload: { a: NUL }, mapping: { a: "a" } } }] })],
      ["surrogate", '{"steps":[{"step_id":"s","skill":"json_transform","params":{"payload":{"a":"\\udc00"},"mapping":{"a":"a"}}}]}'],
      ["deep", `{"steps":[{"step_id":"s","skill":"json_transform","params":{"payload":${deep(10_000)},"mapping":{}}}]}`],
    ];
    const home = join(dir, "home");
    for (const [name, text] of files) {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, text);
      for (const verb of [
        ["run", "--tenant-id", "t", "--goal", "g", "--plan", file],
        ["simulate", "--tenant-id", "t", "--plan", file],
        ["policy", "set", "--tenant-id", "t", "--file", file],
      ]) {
        const result = await runCli(verb, { AOS_HOME: home });
        expect([name, verb[0], result.code]).toEqual([name, verb[0], 2]);
        expect(result.stderr).toMatch(/steps\[0\]\.params\.payload(\.a)?.*(NUL character|unpaired UTF-16 surrogate|nests deeper than 64)/);
      }
    }
    // Bytes that are not UTF-8 inside a string: refused, never read as U+FFFD.
    const notUtf8 = join(dir, "not-utf8.json");
    writeFileSync(notUtf8, Buffer.concat([Buffer.from('{"steps":[{"step_id":"s","skill":"json_transform","params":{"payload":{"a":"'), Buffer.from([0xff, 0xed, 0xa0, 0x80]), Buffer.from('"},"mapping":{"a":"a"}}}]}')]));
    for (const verb of [
      ["run", "--tenant-id", "t", "--goal", "g", "--plan", notUtf8],
      ["simulate", "--tenant-id", "t", "--plan", notUtf8],
      ["policy", "set", "--tenant-id", "t", "--file", notUtf8],
    ]) {
      const result = await runCli(verb, { AOS_HOME: home });
      expect([verb[0], result.code]).toEqual([verb[0], 2]);
      expect(result.stderr).toContain(`${notUtf8} is not valid UTF-8; save it as UTF-8`);
    }
    // Nothing was written, not even the tenant each refused verb named.
    const runs = await runCli(["list-runs", "--tenant-id", "t", "--json"], { AOS_HOME: home });
    expect([runs.code, runs.stdout, runs.stderr]).toEqual([1, "", expect.stringContaining('no such tenant "t"')]);
  });

  it("the CLI holds arguments to the API's limits: ids, names and goals too long exit 2 naming them", { timeout: 300_000 }, async () => {
    const home = join(tempDir("aos-bad-input"), "home");
    const long = "a".repeat(201);
    const cases: [string[], string][] = [
      [["create-agent", "--tenant-id", "t", "--name", long], "name is 201 characters long; at most 200"],
      [["run", "--tenant-id", "t", "--goal", "g".repeat(10_001), "--no-wait"], "goal is 10001 characters long; at most 10000"],
      [["run", "--tenant-id", "t", "--agent-id", long, "--goal", "g", "--no-wait"], "--agent-id is 201 characters long"],
      [["get-run", long, "--tenant-id", "t"], "<run_id> is 201 characters long"],
      [["cancel", long, "--tenant-id", "t"], "<run_id> is 201 characters long"],
      [["evidence", long, "--tenant-id", "t"], "<run_id> is 201 characters long"],
      [["list-runs", "--tenant-id", long], "--tenant-id is 201 characters long"],
      [["query", "what_did_i_try_already", "--tenant-id", "t", "--goal", "g".repeat(10_001)], "goal is 10001 characters long; at most 10000"],
    ];
    for (const [argv, message] of cases) {
      const result = await runCli(argv, { AOS_HOME: home });
      expect([argv[0], result.code]).toEqual([argv[0], 2]);
      expect(result.stderr).toContain(message);
    }
    // Who set a policy is recorded and shown like who decided a run: a name, not a terminal escape or 201 emoji.
    const policy = join(tempDir("aos-bad-input"), "policy.json");
    writeFileSync(policy, JSON.stringify({ allowed_skills: ["json_transform"] }));
    for (const by of ["", "evil\n\u001b[31mroot\u001b[0m", "🛰".repeat(201)]) {
      const result = await runCli(["policy", "set", "--tenant-id", "t", "--file", policy, "--by", by], { AOS_HOME: home });
      expect([JSON.stringify(by).slice(0, 20), result.code]).toEqual([JSON.stringify(by).slice(0, 20), 2]);
    }
    const policies = await runCli(["policy", "show", "--tenant-id", "t", "--json"], { AOS_HOME: home });
    expect(policies.stdout).not.toContain("evil");
    // Nothing was written, not even the tenant each refused verb named.
    const runs = await runCli(["list-runs", "--tenant-id", "t", "--json"], { AOS_HOME: home });
    expect([runs.code, runs.stdout, runs.stderr]).toEqual([1, "", expect.stringContaining('no such tenant "t"')]);
  });
});
