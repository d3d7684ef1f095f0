import type { Database } from "../db/database.js";
import { countAgentStepsSince } from "../db/queries/trace-steps.js";
import { AppError, toAppError } from "../errors.js";
import type { StepDecision } from "../glossary.js";
import { type AllowDecision, allowed, decide } from "../policy/decide.js";
import type { EffectivePolicy } from "../policy/policy-document.js";
import type { Egress } from "../egress.js";
import { checkEndpoint } from "../policy/configured-endpoint.js";
import { checkTarget } from "../policy/ssrf-guard.js";
import type { SideEffectClass, Skill, SkillSettings } from "../skills/contract.js";

/** The run's policy as loaded at claim time, or why it could not be loaded (then every step is denied). */
export type LoadedPolicy = { ok: true; policy: EffectivePolicy } | { ok: false; reason: string };

/**
 * A stored policy that does not validate denies every step (fail closed, the run halts with Enforcement skipped).
 * A database that cannot be read is not a policy verdict: that error propagates, so the run is retried later as any
 * run whose worker lost its database is, instead of being halted for good by a passing outage.
 */
export async function loadPolicy(load: () => Promise<EffectivePolicy>): Promise<LoadedPolicy> {
  try {
    return { ok: true, policy: await load() };
  } catch (error) {
    if (!(error instanceof AppError && error.code === "ENFORCEMENT_SKIPPED")) throw error;
    return { ok: false, reason: `the policy could not be loaded: ${error.message}` };
  }
}

export interface StepGovernance {
  db: Database;
  policy: LoadedPolicy;
  agentId: string;
  /** What the step may reach: the operator's openings in the egress floor, narrowed by the agent's allowed_hosts. */
  egress: Egress;
  /** Configuration, for the endpoints a skill reaches by setting (a Slack webhook, a model provider). */
  settings: SkillSettings;
  /** Cost and tokens the run has settled so far. */
  runCostCents: number;
  runTokens: number;
}

/**
 * What the policy engine says about one step. `allow` carries the AllowDecision the executor requires;
 * `skipped` means evaluation itself failed, which denies the step (fail closed).
 */
export type Governed =
  | { kind: "allow"; decision: AllowDecision; estimatedCostCents: number; sideEffects: SideEffectClass }
  | { kind: "deny"; decision: StepDecision }
  | { kind: "require_approval"; decision: StepDecision; estimatedCostCents: number; sideEffects: SideEffectClass }
  | { kind: "skipped"; decision: StepDecision; reason: string };

/** Decides a step before it runs: the SSRF guard on its targets, then the policy's rules. Never throws. */
export async function governStep(governance: StepGovernance, skill: Skill<unknown>, params: unknown): Promise<Governed> {
  const policyHash = governance.policy.ok ? governance.policy.policy.hash : "unavailable";
  try {
    if (!governance.policy.ok) throw new Error(governance.policy.reason);
    const { policy } = governance.policy;
    // Parsed once here for the guard and the estimates; the executor validates again, strictly, before running.
    const parsed = skill.input.safeParse(params);
    const input = parsed.success ? parsed.data : undefined;
    const ssrf = input === undefined ? undefined : await ssrfDecision(governance, policy.hash, skill, input);
    if (ssrf !== undefined) return { kind: "deny", decision: ssrf };
    const estimatedCostCents = input === undefined ? 0 : skill.estimateCostCents(input);
    // What this call may do: the contract's class, narrowed for this input when the skill can tell (an HTTP GET reads).
    const sideEffects = input === undefined ? skill.sideEffects : (skill.sideEffectsOf?.(input) ?? skill.sideEffects);
    const decision = decide(policy, {
      skill: skill.name,
      hosts: input === undefined ? [] : hostsOf(skill, input, governance.settings),
      estimatedCostCents,
      estimatedTokens: input === undefined ? 0 : (skill.estimateTokens?.(input) ?? 0),
      runCostCents: governance.runCostCents,
      runTokens: governance.runTokens,
      agentStepsLastMinute:
        policy.document.steps_per_minute === null ? 0 : await countAgentStepsSince(governance.db.pool, governance.agentId, 60),
    });
    const allow = allowed(decision);
    if (allow !== undefined) return { kind: "allow", decision: allow, estimatedCostCents, sideEffects };
    return decision.action === "deny" ? { kind: "deny", decision } : { kind: "require_approval", decision, estimatedCostCents, sideEffects };
  } catch (error) {
    const reason = toAppError(error).message;
    return {
      kind: "skipped",
      reason,
      decision: { action: "deny", reason: `policy evaluation failed: ${reason}`, policy_id: "enforcement", policy_hash: policyHash },
    };
  }
}

/** Every host the call will reach, from its input and from configuration, for the policy's host rules. */
function hostsOf(skill: Skill<unknown>, input: unknown, settings: SkillSettings): string[] {
  const urls = [...(skill.targetUrls?.(input) ?? []), ...(skill.configuredTargets?.(input, settings) ?? [])];
  return urls.flatMap((url) => (URL.canParse(url) ? [new URL(url).hostname.toLowerCase()] : []));
}

/**
 * A step whose target is a blocked address, or outside the agent's allowed_hosts, is denied before it runs: the URLs
 * from its input, and the endpoints it reaches by configuration (a model provider, Voyage, Resend, SMTP, the query
 * database, Redis). Redirects are checked again by the HTTP skills.
 */
async function ssrfDecision(
  governance: StepGovernance,
  policyHash: string,
  skill: Skill<unknown>,
  input: unknown,
): Promise<StepDecision | undefined> {
  const checks = [
    ...(skill.targetUrls?.(input) ?? []).map((url) => () => checkTarget(url, governance.egress)),
    ...(skill.configuredTargets?.(input, governance.settings) ?? []).map((url) => () => checkEndpoint(url, governance.egress)),
  ];
  for (const check of checks) {
    try {
      await check();
    } catch (error) {
      if (error instanceof AppError && error.code === "FORBIDDEN_TARGET") {
        return { action: "deny", reason: error.message, policy_id: "ssrf_guard", policy_hash: policyHash };
      }
      // A host that does not resolve is the skill's failure to report (DNS_ERROR), not a policy decision.
    }
  }
  return undefined;
}
