import { silentLogger } from "../../src/logger.js";
import { type Egress, parseEgressOpenings } from "../../src/egress.js";
import type { SkillContext } from "../../src/skills/contract.js";

/** The egress rules of a step: the operator's openings (AOS_EGRESS_ALLOW's text) and the agent's allowed_hosts. */
export function egress(openings = "", narrowTo: readonly string[] = []): Egress {
  const parsed = parseEgressOpenings(openings);
  if (!parsed.ok) throw new Error(`bad openings in a test: ${parsed.entry}`);
  return { openings: parsed.openings, narrowTo };
}

/** Loopback opened by the operator, as the tests' own servers on 127.0.0.1 need. */
export const LOOPBACK_OPEN = egress("127.0.0.1");

/** A skill context for unit tests of one skill: ids, a silent logger, small limits, a live signal. */
export function skillContext(overrides: Partial<SkillContext> = {}): SkillContext {
  return {
    signal: new AbortController().signal,
    tenantId: "tenant-1",
    agentId: "agent-1",
    runId: "run-1",
    stepIndex: 0,
    attempt: 1,
    idempotencyKey: "run-1:0",
    log: silentLogger,
    egress: { openings: [], narrowTo: [] },
    limits: { httpMaxResponseBytes: 1024, httpDefaultTimeoutMs: 1000, httpMaxRedirects: 1 },
    settings: {
      webhookSecret: undefined,
      slackWebhookUrl: undefined,
      postgresQueryUrl: undefined,
      postgresQueryMaxRows: 100,
      postgresQueryTimeoutMs: 5000,
      anthropicApiKey: undefined,
      anthropicBaseUrl: undefined,
      openaiApiKey: undefined,
      openaiBaseUrl: undefined,
      redisUrl: undefined,
      smtpUrl: undefined,
      emailFrom: undefined,
      resendApiKey: undefined,
      resendBaseUrl: undefined,
      voyageApiKey: undefined,
      voyageBaseUrl: undefined,
    },
    ...overrides,
  };
}
