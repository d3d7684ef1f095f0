import type { z } from "zod";
import type { Config } from "../config.js";
import type { Database } from "../db/database.js";
import type { StepError } from "../glossary.js";
import type { Logger } from "../logger.js";
import type { Egress } from "../egress.js";
import type { CalendarStore } from "./calendar/calendar-store.js";
import type { KvBackend } from "./kv/kv-backend.js";

/**
 * What a skill receives besides its input: ids, a logger, an AbortSignal it must honour (timeouts and
 * cancellation), the idempotency key for external side effects, and the egress rules of the agent it runs for.
 */
export interface SkillContext {
  readonly signal: AbortSignal;
  readonly tenantId: string;
  readonly agentId: string;
  readonly runId: string;
  readonly stepIndex: number;
  readonly attempt: number;
  /** `<run_id>:<step_index>`: the same across attempts of a step, so a retried side effect can be deduplicated. */
  readonly idempotencyKey: string;
  readonly log: Logger;
  /** What the step may reach: the operator's openings in the egress floor, narrowed by the agent's allowed_hosts. */
  readonly egress: Egress;
  readonly limits: SkillLimits;
  /** Credentials and endpoints from configuration; a skill whose setting is missing fails naming the variable. */
  readonly settings: SkillSettings;
  /**
   * kv_store's storage (Redis when REDIS_URL is set, else AOS's database), scoped per call by tenant and
   * namespace: how a skill keeps its own state, and no handle on AOS's other tables. Given to the skill that opens
   * it (`openResources`); absent elsewhere.
   */
  readonly kv?: KvBackend;
  /**
   * calendar_write's events in AOS's database, scoped per call by tenant: no handle on other tenants' events or
   * AOS's other tables. Given to the skill that opens it (`openResources`); absent elsewhere.
   */
  readonly calendar?: CalendarStore;
}

/** What a skill keeps for the calls of one run, beyond their input: the context's store fields. */
export type SkillResources = Pick<SkillContext, "kv" | "calendar">;

/** What a skill's resources are opened from: AOS's database (the runner's, as trusted as the run) and configuration. */
export interface ResourceSource {
  readonly db: Database;
  readonly config: Config;
}

export type SkillSettings = Pick<
  Config,
  | "webhookSecret"
  | "slackWebhookUrl"
  | "postgresQueryUrl"
  | "postgresQueryMaxRows"
  | "postgresQueryTimeoutMs"
  | "anthropicApiKey"
  | "anthropicBaseUrl"
  | "openaiApiKey"
  | "openaiBaseUrl"
  | "redisUrl"
  | "smtpUrl"
  | "emailFrom"
  | "resendApiKey"
  | "resendBaseUrl"
  | "voyageApiKey"
  | "voyageBaseUrl"
>;

/** Limits from configuration that skills apply. */
export interface SkillLimits {
  readonly httpMaxResponseBytes: number;
  readonly httpDefaultTimeoutMs: number;
  readonly httpMaxRedirects: number;
}

export interface SideEffects {
  /** Integer cents; never a float that drifts. */
  costCents: number;
  tokens: number;
}

/** The one outcome shape every skill returns. A skill reports failure as `status: "error"`; it does not throw. */
export type SkillOutcome =
  | { status: "ok"; result: unknown; sideEffects: SideEffects }
  | { status: "error"; result?: unknown; error: StepError; sideEffects: SideEffects };

export type Determinism = "deterministic" | "non_deterministic";
export type SideEffectClass = "none" | "external_read" | "external_write";

/** A skill's versioned contract and its implementation. */
export interface Skill<Input = unknown> {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  /** Strict: unknown keys are rejected, so a misspelt parameter never passes silently. */
  readonly input: z.ZodType<Input>;
  /** A description of `result` on success, for people and planners. */
  readonly output: Record<string, string>;
  readonly determinism: Determinism;
  /** The most a call can do; `sideEffectsOf` narrows it for one input (an HTTP GET only reads). */
  readonly sideEffects: SideEffectClass;
  sideEffectsOf?(input: Input): SideEffectClass;
  /** Estimated cost in integer cents, before the step runs. */
  estimateCostCents(input: Input): number;
  /**
   * The typical wall time of one attempt in milliseconds, before the step runs: a planning figure for
   * `aos simulate` (upstream's metadata latencies where it had them), not a limit; the limits are in `limits`.
   */
  estimateLatencyMs(input: Input): number;
  /** Estimated model tokens, before the step runs, for token caps; absent means none. */
  estimateTokens?(input: Input): number;
  readonly limits: Record<string, string | number>;
  /**
   * Top-level input fields that must be written literally in the plan: a `{{…}}` reference there is refused when
   * the plan is validated (postgres_query's SQL text, so no earlier result is ever spliced into a query).
   */
  readonly literalFields?: readonly string[];
  /** The URLs the step will call, for the SSRF guard and host rules to decide on before it runs. */
  targetUrls?(input: Input): string[];
  /**
   * The endpoints from configuration the call will reach (a Slack webhook, a model provider, an SMTP relay, the
   * query database, Redis). The policy's host rules, the egress floor and the agent's allowed_hosts apply to them
   * like to any target, checked before the step runs: an operator naming an endpoint does not open the floor for it.
   */
  configuredTargets?(input: Input, settings: SkillSettings): string[];
  /**
   * The configuration variables a call with `input` needs and that are not set; without an input, the ones every
   * use needs. Empty means ready; absent means the skill needs none. What `aos capabilities` and `aos simulate`
   * report before a run, and what the skill itself fails CREDENTIALS_MISSING on.
   */
  missingSettings?(settings: SkillSettings, input?: Input): string[];
  /**
   * Opens what this skill's calls need beyond their input (kv_store its store, calendar_write its events). The runner
   * calls it at the skill's first step in a run and gives the result to that skill's calls only, in their context
   * (src/skills/run-context.ts), so the runner names no skill and no store. Must be cheap: no connection is held.
   */
  openResources?(source: ResourceSource): SkillResources;
  /** The failure catalog codes this skill can report. */
  readonly failureCodes: readonly string[];
  execute(input: Input, ctx: SkillContext): Promise<SkillOutcome>;
}

export const NO_SIDE_EFFECTS: SideEffects = Object.freeze({ costCents: 0, tokens: 0 });
