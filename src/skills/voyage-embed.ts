import { createHash } from "node:crypto";
import { z } from "zod";
import { settingWithDefault } from "../defaults.js";
import type { SideEffectClass, Skill, SkillContext, SkillOutcome } from "./contract.js";
import { exchange, statusFailure, type FinalResponse } from "./http-exchange.js";
import { chargedCents } from "../price-table.js";
import { failure, ok } from "./outcome.js";

/**
 * Voyage's prices in integer micro-cents per token (= cents per million tokens, so $0.06 per million tokens is 6).
 * Assumption: the list prices on https://docs.voyageai.com/docs/pricing as of the table's version, cross-checked
 * against two third-party price lists; Voyage's free-token allowance is ignored, so a cost is never under-stated.
 * The version is reported with every result so a cost can be traced to the prices used.
 */
const VOYAGE_PRICE_TABLE_VERSION = "2026-11-01";
const VOYAGE_PRICES: Readonly<Record<string, number>> = {
  "voyage-3.5": 6,
  "voyage-3.5-lite": 2,
  "voyage-3": 6,
  "voyage-3-lite": 2,
  "voyage-3-large": 18,
  "voyage-code-3": 18,
  "voyage-finance-2": 12,
  "voyage-law-2": 12,
};

const VOYAGE_DEFAULT_BASE_URL = "https://api.voyageai.com";
export const LOCAL_DIMENSIONS = 256;
const MAX_TEXTS = 128;
const MAX_TEXT_CHARS = 100_000;

const inputSchema = z
  .object({
    texts: z.array(z.string().min(1).max(MAX_TEXT_CHARS)).min(1).max(MAX_TEXTS),
    model: z.string().min(1).default("voyage-3"),
    input_type: z.enum(["query", "document"]).optional(),
    mode: z.enum(["api", "local"]).default("api"),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.mode === "api" && !Object.hasOwn(VOYAGE_PRICES, input.model)) {
      ctx.addIssue({
        code: "custom",
        path: ["model"],
        message: `model "${input.model}" has no price (table ${VOYAGE_PRICE_TABLE_VERSION}); priced models: ${Object.keys(VOYAGE_PRICES).join(", ")}`,
      });
    }
  });

export type VoyageEmbedInput = z.output<typeof inputSchema>;

export const voyageEmbedSkill: Skill<VoyageEmbedInput> = {
  name: "voyage_embed",
  version: "1.0.0",
  description:
    'Embeds texts. Mode "api" (the default) calls Voyage\'s /v1/embeddings with VOYAGE_API_KEY; tokens come from ' +
    `Voyage's usage and cost from a versioned price table (${VOYAGE_PRICE_TABLE_VERSION}) in integer micro-cents, ` +
    'charged rounded up to a whole cent. Mode "local" needs no key and no network: each vector is derived from the ' +
    `SHA-256 of its text (${LOCAL_DIMENSIONS} dimensions, unit length), so equal texts give equal vectors but ` +
    "similarity carries no meaning; it costs nothing.",
  input: inputSchema,
  output: {
    mode: '"api" or "local"',
    model: 'the model Voyage reports (api), or "local-sha256" (local)',
    dimensions: "the length of every vector",
    embeddings: "one vector per text, in the order of texts",
    total_tokens: "tokens Voyage counted (api); 0 for local",
    cost_microcents: "the exact cost in micro-cents; the step is charged it rounded up to a whole cent",
    price_table_version: "the version of the price table used",
  },
  determinism: "non_deterministic",
  sideEffects: "external_read",
  sideEffectsOf: (input): SideEffectClass => (input.mode === "local" ? "none" : "external_read"),
  estimateLatencyMs: (input) => (input.mode === "local" ? 5 : 400),
  estimateCostCents: (input) => (input.mode === "local" ? 0 : chargedCents(estimateTokens(input) * (VOYAGE_PRICES[input.model] ?? 0))),
  estimateTokens: (input) => (input.mode === "local" ? 0 : estimateTokens(input)),
  configuredTargets: (input, settings) => (input.mode === "local" ? [] : [settings.voyageBaseUrl ?? VOYAGE_DEFAULT_BASE_URL]),
  // Local mode needs nothing, so only a call in api mode (the default) is missing a key.
  missingSettings: (settings, input) => (input !== undefined && input.mode === "api" && !settings.voyageApiKey ? ["VOYAGE_API_KEY"] : []),
  limits: {
    texts: MAX_TEXTS,
    text_chars: MAX_TEXT_CHARS,
    timeout_ms: settingWithDefault("HTTP_DEFAULT_TIMEOUT_MS"),
    max_response_bytes: `${settingWithDefault("HTTP_MAX_RESPONSE_BYTES")}; a larger answer fails RESPONSE_TOO_LARGE`,
  },
  failureCodes: [
    "CREDENTIALS_MISSING", "HTTP_4XX", "HTTP_5XX", "TIMEOUT", "NETWORK_ERROR", "DNS_ERROR", "HOST_NOT_FOUND", "FORBIDDEN_TARGET",
    "RESPONSE_TOO_LARGE", "CANCELLED", "SKILL_ERROR",
  ],
  execute: executeVoyageEmbed,
};

/** About four characters a token, as Voyage's tokenizer averages on English; only for estimates before the call. */
function estimateTokens(input: VoyageEmbedInput): number {
  return input.texts.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
}

function executeVoyageEmbed(input: VoyageEmbedInput, ctx: SkillContext): Promise<SkillOutcome> {
  if (input.mode === "local") return Promise.resolve(localOutcome(input));
  const apiKey = ctx.settings.voyageApiKey;
  if (apiKey === undefined || apiKey === "") {
    const message = 'voyage_embed in mode "api" needs VOYAGE_API_KEY, which is not set (mode "local" needs none); nothing was sent';
    return Promise.resolve(failure("CREDENTIALS_MISSING", message, { retryable: false }));
  }
  const endpoint = `${(ctx.settings.voyageBaseUrl ?? VOYAGE_DEFAULT_BASE_URL).replace(/\/+$/, "")}/v1/embeddings`;
  if (!URL.canParse(endpoint)) {
    return Promise.resolve(failure("CREDENTIALS_MISSING", "VOYAGE_BASE_URL is set but is not an absolute URL; nothing was sent", { retryable: false }));
  }
  const body = {
    input: input.texts,
    model: input.model,
    ...(input.input_type === undefined ? {} : { input_type: input.input_type }),
    // Base64 float32 is about a quarter of the size of JSON numbers: 128 vectors of 1024 dimensions fit the default
    // 1 MiB response cap this way and would not as JSON.
    encoding_format: "base64",
  };
  const headers = { "Content-Type": "application/json", Authorization: `Bearer ${apiKey}` };
  const first = { url: new URL(endpoint), method: "POST", headers, body: Buffer.from(JSON.stringify(body), "utf8") };
  const request = { skill: "voyage_embed", first, followRedirects: false, timeoutMs: ctx.limits.httpDefaultTimeoutMs, truncateBody: false };
  return exchange(request, ctx, (response) => apiOutcome(response, input));
}

const voyageAnswer = z.object({
  data: z.array(z.object({ embedding: z.base64(), index: z.int().min(0) })),
  model: z.string(),
  usage: z.object({ total_tokens: z.int().min(0) }),
});

/** 429 is Voyage's rate limit: a 4xx that a later attempt can get past, unlike a refused key or a bad request. */
function apiOutcome(response: FinalResponse, input: VoyageEmbedInput): SkillOutcome {
  const where = `voyage_embed to ${response.url.host}`;
  if (response.statusCode < 200 || response.statusCode >= 300) {
    const outcome = statusFailure(where, response);
    if (response.statusCode !== 429 || outcome.status !== "error") return outcome;
    return { ...outcome, error: { ...outcome.error, retryable: true } };
  }
  const parsed = voyageAnswer.safeParse(parseJson(response.body));
  const embeddings = parsed.success ? inOrder(parsed.data.data, input.texts.length) : undefined;
  if (!parsed.success || embeddings === undefined) {
    return failure("SKILL_ERROR", `${where} answered ${response.statusCode} without one embedding per text`);
  }
  const tokens = parsed.data.usage.total_tokens;
  const microcents = tokens * (VOYAGE_PRICES[input.model] ?? 0);
  return ok(
    {
      mode: "api",
      model: parsed.data.model,
      dimensions: embeddings[0]?.length ?? 0,
      embeddings,
      total_tokens: tokens,
      cost_microcents: microcents,
      price_table_version: VOYAGE_PRICE_TABLE_VERSION,
    },
    { costCents: chargedCents(microcents), tokens },
  );
}

/** The decoded vectors ordered by `index`, or undefined unless there is exactly one for each text, all one length. */
function inOrder(data: { embedding: string; index: number }[], count: number): number[][] | undefined {
  const vectors: (number[] | undefined)[] = new Array<number[] | undefined>(count).fill(undefined);
  for (const item of data) {
    const vector = decodeFloat32(item.embedding);
    if (vector === undefined || item.index >= count || vectors[item.index] !== undefined) return undefined;
    vectors[item.index] = vector;
  }
  const dimensions = vectors[0]?.length;
  return vectors.every((vector) => vector !== undefined && vector.length === dimensions) ? (vectors as number[][]) : undefined;
}

/** Voyage's base64 encoding: the bytes of a little-endian float32 array (a NumPy array's buffer). */
function decodeFloat32(encoded: string): number[] | undefined {
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.length === 0 || bytes.length % 4 !== 0) return undefined;
  const vector: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += 4) vector.push(bytes.readFloatLE(offset));
  return vector;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

function localOutcome(input: VoyageEmbedInput): SkillOutcome {
  return ok({
    mode: "local",
    model: "local-sha256",
    dimensions: LOCAL_DIMENSIONS,
    embeddings: input.texts.map(localEmbedding),
    total_tokens: 0,
    cost_microcents: 0,
    price_table_version: VOYAGE_PRICE_TABLE_VERSION,
  });
}

/**
 * A unit vector from the text alone: SHA-256 of (block number ‖ text) for 16 blocks gives 256 signed 16-bit
 * components. Integer arithmetic, then one IEEE square root and divisions, which are exactly rounded, so every
 * platform computes the same vector.
 */
export function localEmbedding(text: string): number[] {
  const components: number[] = [];
  const block = Buffer.alloc(4);
  for (let index = 0; components.length < LOCAL_DIMENSIONS; index += 1) {
    block.writeUInt32BE(index);
    const digest = createHash("sha256").update(block).update(text, "utf8").digest();
    for (let offset = 0; offset < digest.length; offset += 2) components.push(digest.readInt16BE(offset));
  }
  const length = Math.sqrt(components.reduce((sum, value) => sum + value * value, 0));
  return components.map((value) => value / length);
}
