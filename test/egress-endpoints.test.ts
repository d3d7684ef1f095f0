import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent } from "../src/services/agents.js";
import { listSkills } from "../src/skills/registry.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";

/**
 * Endpoints an operator configures (a model provider, Voyage, Resend, SMTP, the query database, Redis, Slack) reach a
 * network like a URL in a plan, so they pass the same egress floor and the same narrowing by an agent's
 * allowed_hosts, checked before the step runs. Each points here at a loopback canary that counts connections: none
 * may arrive. The table must name every skill of the registry that declares configured endpoints.
 */
const ENDPOINTS: { skill: string; env: (url: string, port: number) => Record<string, string>; params: unknown }[] = [
  { skill: "slack_send", env: (url) => ({ SLACK_WEBHOOK_URL: `${url}/hook` }), params: { text: "hi" } },
  {
    skill: "llm_invoke",
    env: (url) => ({ ANTHROPIC_API_KEY: "sk-ant-canary", ANTHROPIC_BASE_URL: url }),
    params: { provider: "anthropic", messages: [{ role: "user", content: "hi" }], max_tokens: 5 },
  },
  { skill: "voyage_embed", env: (url) => ({ VOYAGE_API_KEY: "pa-canary", VOYAGE_BASE_URL: url }), params: { texts: ["tea"], mode: "api" } },
  {
    skill: "email_send",
    env: (_url, port) => ({ SMTP_URL: `smtp://127.0.0.1:${port}`, EMAIL_FROM: "aos@example.com" }),
    params: { to: ["ada@example.com"], subject: "s", text: "t" },
  },
  { skill: "postgres_query", env: (_url, port) => ({ POSTGRES_QUERY_URL: `postgres://reader@127.0.0.1:${port}/warehouse` }), params: { query: "select 1" } },
  { skill: "kv_store", env: (_url, port) => ({ REDIS_URL: `redis://127.0.0.1:${port}` }), params: { op: "get", key: "k" } },
];

/**
 * Configured values each client reads differently from a WHATWG URL (the first attacker round's bypasses): pg's
 * `?host=` and Unix sockets, node-redis's empty host (localhost), nodemailer's decoded escapes and `?proxy=`. Each
 * must be refused before the step, never passed on unchecked.
 */
const DISGUISED: { skill: string; env: (port: number) => Record<string, string>; params: unknown }[] = [
  ...[
    (port: number) => `postgres://reader@8.8.8.8/warehouse?host=127.0.0.1&port=${port}`,
    () => "postgres://reader@%2Fvar%2Frun%2Fpostgresql/warehouse",
    () => "postgres:///warehouse?host=/var/run/postgresql&user=reader",
    (port: number) => `postgresql://reader@127.0.0.%31:${port}/warehouse`,
    (port: number) => `postgres://reader@api.example.com/warehouse?hostaddr=127.0.0.1&port=${port}`,
    () => "socket:/var/run/postgresql?db=warehouse",
  ].map((url) => ({ skill: "postgres_query", env: (port: number) => ({ POSTGRES_QUERY_URL: url(port) }), params: { query: "select 1" } })),
  ...[() => "redis://", () => "redis:///0", () => "unix:///tmp/redis.sock", (port: number) => `redis://127.0.0.%31:${port}`].map((url) => ({
    skill: "kv_store",
    env: (port: number) => ({ REDIS_URL: url(port) }),
    params: { op: "get", key: "k" },
  })),
  ...[
    (port: number) => `smtp://127.0.0.%31:${port}`,
    (port: number) => `smtp://%6c%6f%63%61%6c%68%6f%73%74:${port}`,
    (port: number) => `smtp://mail.example.com:25?proxy=socks5://127.0.0.1:${port}`,
    (port: number) => `smtp://mail.example.com:25?host=127.0.0.1&port=${port}`,
  ].map((url) => ({
    skill: "email_send",
    env: (port: number) => ({ SMTP_URL: url(port), EMAIL_FROM: "aos@example.com" }),
    params: { to: ["ada@example.com"], subject: "s", text: "t" },
  })),
];

describeOnBackends("configured endpoints through the egress floor, on $name", (backend) => {
  let db: TestDatabase;
  let canary: Server;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    db = await backend.open();
    canary = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => canary.listen(0, "127.0.0.1", resolve));
    port = (canary.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => canary?.close(resolve));
    await db?.close();
  });

  it("the table names every skill that reaches a configured endpoint", () => {
    const declaring = listSkills().filter((skill) => skill.configuredTargets !== undefined).map((skill) => skill.name);
    expect(ENDPOINTS.map((endpoint) => endpoint.skill).sort()).toEqual(declaring.sort());
  });

  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.skill}: a loopback endpoint stays shut unless the operator opens it, and an agent's allowed_hosts narrows it`, async () => {
      const plan = { steps: [{ step_id: "s", skill: endpoint.skill, params: endpoint.params }] };
      const env = endpoint.env(`http://127.0.0.1:${port}`, port);
      const tenantId = `egress-${endpoint.skill}-${backend.name}`;

      const floor = await runToEnd(db, testConfig(env), { tenantId, goal: "reach the canary", plan });
      expect(floor.run.status).toBe("halted");
      expect(floor.steps.at(-1)?.decision).toMatchObject({ action: "deny", policy_id: "ssrf_guard", reason: expect.stringMatching(/loopback.*AOS_EGRESS_ALLOW/) });

      const narrowed = await createAgent(db, { tenantId, name: "narrowed", allowedHosts: ["api.example.com"] });
      const opened = testConfig({ ...env, AOS_EGRESS_ALLOW: "127.0.0.1" });
      const outside = await runToEnd(db, opened, { tenantId, agentId: narrowed.id, goal: "reach past the list", plan });
      expect(outside.run.status).toBe("halted");
      expect(outside.steps.at(-1)?.decision).toMatchObject({ action: "deny", policy_id: "ssrf_guard", reason: expect.stringMatching(/not in the agent's allowed_hosts/) });
      expect(connections).toBe(0);
    });
  }

  it("a configured endpoint its client would read differently is refused before the step, even with loopback opened", async () => {
    for (const [index, endpoint] of DISGUISED.entries()) {
      const plan = { steps: [{ step_id: "s", skill: endpoint.skill, params: endpoint.params }] };
      const env = endpoint.env(port);
      const config = testConfig({ ...env, AOS_EGRESS_ALLOW: "127.0.0.1" });
      const detail = await runToEnd(db, config, { tenantId: `disguised-${backend.name}`, goal: `disguise ${index}`, plan });
      const decision = detail.steps.at(-1)?.decision;
      expect([env, detail.run.status, decision?.policy_id]).toEqual([env, "halted", "ssrf_guard"]);
      expect(decision?.reason).toMatch(/^blocked the configured endpoint .*: (it names no host|its host .* is not written plainly|its query parameter|its scheme|it is not a URL)/);
      expect(decision?.reason).not.toContain("reader@");
    }
    expect(connections).toBe(0);
  });
});
