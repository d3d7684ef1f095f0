import { silentLogger } from "../../src/logger.js";
import type { SkillContext } from "../../src/skills/contract.js";

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
    allowedHosts: [],
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
