import type { StepDecision } from "../glossary.js";
import { matchHost, type EffectivePolicy } from "./policy-document.js";

/** What the runner knows about a step before executing it. */
export interface DecisionInput {
  skill: string;
  /** The hosts this step will call, already extracted from its parameters. */
  hosts: readonly string[];
  estimatedCostCents: number;
  estimatedTokens: number;
  /** Settled so far in this run, not counting this step. */
  runCostCents: number;
  runTokens: number;
  /** Steps this agent started in the last 60 seconds, not counting this one. */
  agentStepsLastMinute: number;
}

declare const allowedBrand: unique symbol;

/**
 * A decision to execute a step. The brand's key is a symbol no other module can name, so the only way to get an
 * AllowDecision (short of a cast) is `allowed()`, and code that executes a skill can require one.
 */
export type AllowDecision = StepDecision & { action: "allow"; readonly [allowedBrand]: true };

/** The decision as an AllowDecision when it allows the step; undefined when it denies or needs approval. */
export function allowed(decision: StepDecision): AllowDecision | undefined {
  return decision.action === "allow" ? (decision as AllowDecision) : undefined;
}

/**
 * Decides whether a step may run. Rules apply in a fixed order and the first that objects decides; its name is
 * the decision's policy_id, so a halt reads `Policy violation: <policy_id>: <reason>`. Limits are checked as
 * `!(value <= limit)`, so a NaN estimate is denied rather than slipping past every comparison. Pure and
 * synchronous; everything it looks up was precomputed by effectivePolicy.
 */
export function decide(policy: EffectivePolicy, input: DecisionInput): StepDecision {
  const document = policy.document;
  if (document.emergency_stop) return deny(policy, "emergency_stop", "an emergency stop is in effect; no step may run");

  if (policy.allowedSkills !== null && !policy.allowedSkills.has(input.skill)) {
    const allowedList = document.allowed_skills?.length ? document.allowed_skills.join(", ") : "none";
    return deny(policy, "allowed_skills", `skill "${input.skill}" is not in allowed_skills (allowed: ${allowedList})`);
  }

  const hostDecision = decideHosts(policy, input.hosts);
  if (hostDecision !== undefined) return hostDecision;

  const caps = document.caps;
  if (caps.step_cost_cents !== null && !(input.estimatedCostCents <= caps.step_cost_cents)) {
    return deny(
      policy,
      "caps.step_cost_cents",
      `estimated cost ${input.estimatedCostCents}c exceeds the per-step cap of ${caps.step_cost_cents}c`,
    );
  }
  if (caps.run_cost_cents !== null && !(input.runCostCents + input.estimatedCostCents <= caps.run_cost_cents)) {
    const total = input.runCostCents + input.estimatedCostCents;
    return deny(
      policy,
      "caps.run_cost_cents",
      `run cost ${input.runCostCents}c plus estimated ${input.estimatedCostCents}c is ${total}c, ` +
        `over the per-run cap of ${caps.run_cost_cents}c`,
    );
  }
  if (caps.step_tokens !== null && !(input.estimatedTokens <= caps.step_tokens)) {
    return deny(
      policy,
      "caps.step_tokens",
      `estimated ${input.estimatedTokens} tokens exceed the per-step cap of ${caps.step_tokens} tokens`,
    );
  }
  if (caps.run_tokens !== null && !(input.runTokens + input.estimatedTokens <= caps.run_tokens)) {
    const total = input.runTokens + input.estimatedTokens;
    return deny(
      policy,
      "caps.run_tokens",
      `run tokens ${input.runTokens} plus estimated ${input.estimatedTokens} is ${total}, ` +
        `over the per-run cap of ${caps.run_tokens} tokens`,
    );
  }

  const limit = document.steps_per_minute;
  if (limit !== null && !(input.agentStepsLastMinute + 1 <= limit)) {
    return deny(
      policy,
      "steps_per_minute",
      `the agent started ${input.agentStepsLastMinute} steps in the last minute; the limit is ${limit} per minute`,
    );
  }

  if (policy.requireApproval.has(input.skill)) {
    return decision(policy, "require_approval", "require_approval", `skill "${input.skill}" requires approval`);
  }
  return decision(policy, "allow", policy.id, "allowed");
}

function decideHosts(policy: EffectivePolicy, hosts: readonly string[]): StepDecision | undefined {
  const denyHosts = policy.denyHosts;
  const allowHosts = policy.allowHosts;
  if (denyHosts === null && allowHosts === null) return undefined;
  for (const raw of hosts) {
    const host = normaliseHost(raw);
    const denied = denyHosts === null ? undefined : matchHost(denyHosts, host);
    if (denied !== undefined) {
      const by = denied === host ? "" : ` (pattern "${denied}")`;
      return deny(policy, "http.deny_hosts", `host "${host}" is in deny_hosts${by}`);
    }
  }
  if (allowHosts === null) return undefined;
  for (const raw of hosts) {
    const host = normaliseHost(raw);
    if (matchHost(allowHosts, host) === undefined) {
      return deny(policy, "http.allow_hosts", `host "${host}" is not in allow_hosts (allowed: ${describeHosts(policy)})`);
    }
  }
  return undefined;
}

/**
 * Host names are case-insensitive and "example.com." names the same host as "example.com"; a deny-list must not
 * be escapable by either spelling. Already-normal names (the usual case) come back unchanged.
 */
function normaliseHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

function describeHosts(policy: EffectivePolicy): string {
  const hosts = policy.document.http.allow_hosts;
  return hosts === null || hosts.length === 0 ? "none" : hosts.join(", ");
}

function deny(policy: EffectivePolicy, policyId: string, reason: string): StepDecision {
  return decision(policy, "deny", policyId, reason);
}

function decision(policy: EffectivePolicy, action: StepDecision["action"], policyId: string, reason: string): StepDecision {
  return { action, reason, policy_id: policyId, policy_hash: policy.hash };
}
