import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import { API_ROUTES, buildApi } from "../src/api/server.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { loadKeyRing } from "../src/trace/key-store.js";
import { runCli } from "./support/cli.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { testConfig } from "./support/harness.js";

/**
 * Text nothing can store or walk — a NUL, an unpaired surrogate, JSON nested 10,000 deep — sent to every route the
 * API declares (enumerated from its route table, so a new route is covered) and to every CLI verb that reads a JSON
 * file: a 400 in the envelope (exit 2), naming where, never a 500, and no row written.
 */
const config = testConfig();
const NUL = "a\u0000b";
const deep = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

/** The three bodies, as raw JSON text (a lone surrogate cannot survive JSON.stringify as one). */
const BODIES: [string, string, RegExp][] = [
  ["a NUL", JSON.stringify({ goal: NUL, name: NUL, by: NUL }), /^body\.\w+: holds a NUL character/],
  ["a lone surrogate", '{"goal":"x\\ud800","name":"x\\ud800","by":"x\\ud800"}', /^body\.\w+: holds an unpaired UTF-16 surrogate/],
  ["nesting 10,000 deep", `{"plan":${deep(10_000)},"goal":"g","name":"n","by":"b"}`, /^body\.plan.*: nests deeper than 64 levels/],
];

describeOnBackends("bad input on every route and verb, on $name", (backend) => {
  let db: TestDatabase;
  let app: ReturnType<typeof buildApi>;
  let key: string;
  const tenantId = `bad-input-${backend.name}`;

  beforeAll(async () => {
    db = await backend.open();
    key = (await createApiKey(db, { tenantId, name: "fuzz" })).key;
    app = buildApi({ db, config, log: silentLogger, keys: loadKeyRing(config), metrics: new ApiMetrics(db) });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  const counts = async () => (await db.pool.query("select (select count(*) from runs)::int as runs, (select count(*) from agents)::int as agents, (select count(*) from run_approvals)::int as approvals")).rows[0];
  const headers = { authorization: "Bearer KEY", "content-type": "application/json" };
  const send = (method: "GET" | "POST", url: string, payload?: string) =>
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
          const response = await send(route.method, url, route.method === "POST" ? "{}" : undefined);
          expect([route.url, what, response.statusCode]).toEqual([route.url, what, 400]);
          if (what === "NUL") expect(response.json().error).toMatchObject({ code: "VALIDATION_ERROR", message: expect.stringMatching(new RegExp(`^path\\.\\w+: ${reason.source}`)) });
          checked.push(`${route.method} ${route.url} path ${what}`);
        }
        const query = await send(route.method, `${route.url.replace(/:(\w+)/g, "x")}?status=${value}`, route.method === "POST" ? "{}" : undefined);
        expect([route.url, what, "query", query.statusCode]).toEqual([route.url, what, "query", 400]);
      }
    }
    expect(checked.length).toBeGreaterThan(10);
    expect(await counts()).toEqual(before);
  });

  it.each(BODIES)("%s anywhere in a body is a 400 naming the field, on every route that takes one", async (_what, body, reason) => {
    const before = await counts();
    const posts = API_ROUTES.filter((spec) => spec.auth && spec.method === "POST");
    expect(posts.length).toBeGreaterThan(5);
    for (const route of posts) {
      const response = await send("POST", route.url.replace(/:(\w+)/g, "00000000-0000-0000-0000-000000000000"), body);
      expect([route.url, response.statusCode]).toEqual([route.url, 400]);
      expect([route.url, response.json().error.code, response.json().error.message]).toEqual([route.url, "VALIDATION_ERROR", expect.stringMatching(reason)]);
      expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    expect(await counts()).toEqual(before);
  });

  it("every CLI verb that reads a JSON file refuses such text with exit 2, naming the field, before anything exists", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "aos-bad-input-"));
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
    const runs = await runCli(["list-runs", "--tenant-id", "t", "--json"], { AOS_HOME: home });
    expect(JSON.parse(runs.stdout)).toEqual([]);
  });
});
