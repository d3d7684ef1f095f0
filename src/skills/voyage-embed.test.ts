import type { IncomingMessage, ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { sendJson, startLoopbackServer, type LoopbackServer } from "../../test/support/http-server.js";
import { egress, LOOPBACK_OPEN, skillContext } from "../../test/support/skill-context.js";
import type { SkillContext, SkillSettings } from "./contract.js";
import { LOCAL_DIMENSIONS, localEmbedding, voyageEmbedSkill, type VoyageEmbedInput } from "./voyage-embed.js";

const servers: LoopbackServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function fakeVoyage(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<LoopbackServer> {
  const server = await startLoopbackServer(handler);
  servers.push(server);
  return server;
}

function base64Floats(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString("base64");
}

/** Answers like Voyage: one base64 float32 vector per input, listed in reverse to check the skill orders by index. */
function voyageAnswer(tokens: number) {
  return (_req: IncomingMessage, res: ServerResponse, body: string) => {
    const request = JSON.parse(body) as { input: string[]; model: string };
    const data = request.input.map((_text, index) => ({
      object: "embedding",
      embedding: base64Floats([index, 0.5, -0.25]),
      index,
    }));
    sendJson(res, 200, { object: "list", data: data.reverse(), model: request.model, usage: { total_tokens: tokens } });
  };
}

function context(settings: Partial<SkillSettings>, overrides: Partial<SkillContext> = {}): SkillContext {
  const base = skillContext();
  return skillContext({ egress: LOOPBACK_OPEN, ...overrides, settings: { ...base.settings, ...settings } });
}

function parse(input: unknown): VoyageEmbedInput {
  return voyageEmbedSkill.input.parse(input);
}

function norm(vector: number[]): number {
  return Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
}

describe("voyage_embed, mode api", () => {
  it("POSTs the texts with the key and returns the vectors in order, with Voyage's tokens and their cost", async () => {
    const voyage = await fakeVoyage(voyageAnswer(1_000_000));
    const ctx = context({ voyageApiKey: "pa-test-key", voyageBaseUrl: voyage.url });

    const outcome = await voyageEmbedSkill.execute(parse({ texts: ["first", "second"], input_type: "query" }), ctx);

    expect(outcome).toEqual({
      status: "ok",
      result: {
        mode: "api",
        model: "voyage-3",
        dimensions: 3,
        embeddings: [
          [0, 0.5, -0.25],
          [1, 0.5, -0.25],
        ],
        total_tokens: 1_000_000,
        // voyage-3 is $0.06 per million tokens: 6 cents, 6 micro-cents a token.
        cost_microcents: 6_000_000,
        price_table_version: "2026-11-01",
      },
      sideEffects: { costCents: 6, tokens: 1_000_000 },
    });
    expect(voyage.requests).toHaveLength(1);
    const [request] = voyage.requests;
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/embeddings");
    expect(request?.headers.authorization).toBe("Bearer pa-test-key");
    expect(JSON.parse(request?.body ?? "")).toEqual({
      input: ["first", "second"],
      model: "voyage-3",
      input_type: "query",
      encoding_format: "base64",
    });
    expect(JSON.stringify(outcome)).not.toContain("pa-test-key");
  });

  it("charges a small call one whole cent, keeping the exact micro-cents in the result", async () => {
    const voyage = await fakeVoyage(voyageAnswer(12));
    const ctx = context({ voyageApiKey: "pa-test-key", voyageBaseUrl: voyage.url });

    const outcome = await voyageEmbedSkill.execute(parse({ texts: ["hi"], model: "voyage-3-lite" }), ctx);

    expect(outcome).toMatchObject({
      status: "ok",
      result: { cost_microcents: 24, total_tokens: 12 },
      sideEffects: { costCents: 1, tokens: 12 },
    });
  });

  it("fails naming VOYAGE_API_KEY, non-retryably, and calls nothing when the key is missing", async () => {
    const voyage = await fakeVoyage(voyageAnswer(1));
    const ctx = context({ voyageBaseUrl: voyage.url });

    const outcome = await voyageEmbedSkill.execute(parse({ texts: ["hi"] }), ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "CREDENTIALS_MISSING", retryable: false } });
    expect(outcome.status === "error" && outcome.error.message).toContain("VOYAGE_API_KEY");
    expect(voyage.requests).toHaveLength(0);
  });

  it("runs the SSRF guard: a loopback endpoint not on the allow-list gets nothing", async () => {
    const voyage = await fakeVoyage(voyageAnswer(1));
    const ctx = context({ voyageApiKey: "pa-test-key", voyageBaseUrl: voyage.url }, { egress: egress() });

    const outcome = await voyageEmbedSkill.execute(parse({ texts: ["hi"] }), ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "FORBIDDEN_TARGET", retryable: false } });
    expect(voyage.requests).toHaveLength(0);
  });

  it("maps a refused key to a permanent HTTP_4XX, the rate limit and 5xx to retryable failures", async () => {
    const refused = await fakeVoyage((_req, res) => sendJson(res, 401, { detail: "Provided API key is invalid." }));
    const limited = await fakeVoyage((_req, res) => sendJson(res, 429, { detail: "rate limited" }));
    const broken = await fakeVoyage((_req, res) => sendJson(res, 502, { detail: "bad gateway" }));
    const input = parse({ texts: ["hi"] });
    const run = (url: string) => voyageEmbedSkill.execute(input, context({ voyageApiKey: "pa-test-key", voyageBaseUrl: url }));

    expect(await run(refused.url)).toMatchObject({ status: "error", error: { code: "HTTP_4XX", retryable: false } });
    expect(await run(limited.url)).toMatchObject({ status: "error", error: { code: "HTTP_4XX", retryable: true } });
    expect(await run(broken.url)).toMatchObject({ status: "error", error: { code: "HTTP_5XX", retryable: true } });
  });

  it("refuses an answer without exactly one embedding per text", async () => {
    const voyage = await fakeVoyage((_req, res) =>
      sendJson(res, 200, { data: [{ embedding: base64Floats([1]), index: 0 }], model: "voyage-3", usage: { total_tokens: 2 } }),
    );
    const ctx = context({ voyageApiKey: "pa-test-key", voyageBaseUrl: voyage.url });

    const outcome = await voyageEmbedSkill.execute(parse({ texts: ["a", "b"] }), ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "SKILL_ERROR", retryable: false } });
  });

  it("times out retryably when Voyage does not answer", async () => {
    const voyage = await fakeVoyage(() => undefined);
    const ctx = context(
      { voyageApiKey: "pa-test-key", voyageBaseUrl: voyage.url },
      { limits: { httpMaxResponseBytes: 1024, httpDefaultTimeoutMs: 200, httpMaxRedirects: 1 } },
    );

    const outcome = await voyageEmbedSkill.execute(parse({ texts: ["hi"] }), ctx);

    expect(outcome).toMatchObject({ status: "error", error: { code: "TIMEOUT", retryable: true } });
  });
});

describe("voyage_embed, mode local", () => {
  it("returns a deterministic unit vector per text without a key or the network, at no cost", async () => {
    const input = parse({ texts: ["alpha", "beta", "alpha"], mode: "local" });

    const first = await voyageEmbedSkill.execute(input, skillContext());
    const second = await voyageEmbedSkill.execute(input, skillContext());

    expect(first).toEqual(second);
    expect(first).toMatchObject({
      status: "ok",
      result: { mode: "local", model: "local-sha256", dimensions: LOCAL_DIMENSIONS, total_tokens: 0, cost_microcents: 0 },
      sideEffects: { costCents: 0, tokens: 0 },
    });
    const embeddings = (first.result as { embeddings: number[][] }).embeddings;
    expect(embeddings).toHaveLength(3);
    for (const vector of embeddings) {
      expect(vector).toHaveLength(LOCAL_DIMENSIONS);
      expect(norm(vector)).toBeCloseTo(1, 12);
    }
    expect(embeddings[2]).toEqual(embeddings[0]);
    expect(embeddings[1]).not.toEqual(embeddings[0]);
  });

  it("is stable across releases: the vector of a known text does not change", () => {
    const vector = localEmbedding("hello");
    // Pinned so a change to the derivation, which would silently break stored vectors, fails here.
    expect(vector.slice(0, 3).map((value) => value.toFixed(8))).toEqual(["0.05823235", "-0.08062534", "-0.02898052"]);
  });

  it("needs no price for its model, and declares no side effects", () => {
    const input = parse({ texts: ["x"], mode: "local", model: "anything" });
    expect(voyageEmbedSkill.sideEffectsOf?.(input)).toBe("none");
    expect(voyageEmbedSkill.estimateCostCents(input)).toBe(0);
  });
});

describe("voyage_embed input", () => {
  it("rejects unknown keys, empty or too many texts, and unpriced models in api mode", () => {
    expect(voyageEmbedSkill.input.safeParse({ texts: ["a"], extra: 1 }).success).toBe(false);
    expect(voyageEmbedSkill.input.safeParse({ texts: [] }).success).toBe(false);
    expect(voyageEmbedSkill.input.safeParse({ texts: [""] }).success).toBe(false);
    expect(voyageEmbedSkill.input.safeParse({ texts: Array.from({ length: 129 }, () => "a") }).success).toBe(false);
    expect(voyageEmbedSkill.input.safeParse({ texts: ["a"], model: "voyage-99" }).success).toBe(false);
    expect(voyageEmbedSkill.input.safeParse({ texts: ["a"], input_type: "passage" }).success).toBe(false);
    expect(parse({ texts: ["a"] })).toEqual({ texts: ["a"], model: "voyage-3", mode: "api" });
  });
});
