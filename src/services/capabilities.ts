import type { Config } from "../config.js";
import type { Queryable } from "../db/database.js";
import { skillHistory } from "../db/queries/skill-history.js";
import { countAgentStepsSince } from "../db/queries/trace-steps.js";
import type { EffectivePolicy } from "../policy/policy-document.js";
import type { Skill } from "../skills/contract.js";
import { listSkills } from "../skills/registry.js";
import { loadRuntimeView, type RuntimeView } from "./runtime-view.js";

/**
 * What an agent can do right now, from the database and configuration (upstream answered constants): each
 * skill's availability under the agent's effective policy, whether its configuration is in place, and how it has
 * gone for the tenant lately; the agent's remaining budget, the tenant's day, and the step rate left this minute.
 * Plain JSON with snake_case keys, as `aos capabilities --json` prints it.
 */
export interface CapabilitiesReport {
  tenant_id: string;
  agent: { id: string | null; name: string; status: string; concurrent_runs_limit: number; allowed_hosts: string[] };
  policy: {
    id: string;
    hash: string;
    emergency_stop: boolean;
    caps: Record<string, number | null>;
    steps_per_minute: number | null;
    /** Steps the agent may still start this minute; null without a rate rule. */
    steps_remaining_this_minute: number | null;
  };
  budget: {
    agent_limit_cents: number | null;
    agent_spent_cents: number;
    agent_remaining_cents: number | null;
    tenant_day: string;
    tenant_daily_cap_cents: number | null;
    tenant_spent_today_cents: number;
    remaining_cents: number | null;
  };
  skills: SkillCapability[];
}

export interface SkillCapability {
  name: string;
  version: string;
  description: string;
  /** Allowed by the policy and no emergency stop: a step of it would not be denied for what it is. */
  available: boolean;
  /** Why not, when not available. */
  unavailable_reason: string | null;
  requires_approval: boolean;
  /** Every use has the configuration it needs (some inputs may need more, e.g. a hosted model's key). */
  configured: boolean;
  missing_settings: string[];
  determinism: string;
  side_effects: string;
  failure_codes: readonly string[];
  /** The tenant's last 30 days of this skill. */
  history: { attempts: number; failures: number; success_rate: number | null; p50_ms: number | null };
}

export async function agentCapabilities(db: Queryable, config: Config, tenantId: string, agentId?: string): Promise<CapabilitiesReport> {
  const view = await loadRuntimeView(db, tenantId, agentId);
  const skills = listSkills();
  const history = await skillHistory(db, view.tenantId, skills.map((skill) => skill.name));
  const document = view.policy.document;
  const rate = document.steps_per_minute;
  const stepsLastMinute = rate === null || !view.agentExists ? 0 : await countAgentStepsSince(db, view.agent.id, 60);
  return {
    tenant_id: view.tenantId,
    agent: {
      id: view.agentExists ? view.agent.id : null,
      name: view.agent.name,
      status: view.agent.status,
      concurrent_runs_limit: view.agent.concurrentRunsLimit,
      allowed_hosts: view.agent.allowedHosts,
    },
    policy: {
      id: view.policy.id,
      hash: view.policy.hash,
      emergency_stop: document.emergency_stop,
      caps: { ...document.caps },
      steps_per_minute: rate,
      steps_remaining_this_minute: rate === null ? null : Math.max(0, rate - stepsLastMinute),
    },
    budget: budgetOf(view),
    skills: skills.map((skill) => {
      const past = history.get(skill.name);
      const missing = skill.missingSettings?.(config) ?? [];
      const unavailable = unavailableReason(view.policy, skill);
      return {
        name: skill.name,
        version: skill.version,
        description: skill.description,
        available: unavailable === null,
        unavailable_reason: unavailable,
        requires_approval: view.policy.requireApproval.has(skill.name),
        configured: missing.length === 0,
        missing_settings: missing,
        determinism: skill.determinism,
        side_effects: skill.sideEffects,
        failure_codes: skill.failureCodes,
        history: {
          attempts: past?.attempts ?? 0,
          failures: past?.failures ?? 0,
          success_rate: past === undefined || past.attempts === 0 ? null : (past.attempts - past.failures) / past.attempts,
          p50_ms: past?.p50DurationMs ?? null,
        },
      };
    }),
  };
}

/** Why a step of this skill would be denied whatever its parameters; null when it would not. */
export function unavailableReason(policy: EffectivePolicy, skill: Pick<Skill<unknown>, "name">): string | null {
  if (policy.document.emergency_stop) return "an emergency stop is in effect";
  if (policy.allowedSkills !== null && !policy.allowedSkills.has(skill.name)) return "not in the policy's allowed_skills";
  return null;
}

function budgetOf(view: RuntimeView): CapabilitiesReport["budget"] {
  const { agent, tenantDay, remainingCents } = view.budget;
  return {
    agent_limit_cents: agent.limitCents,
    agent_spent_cents: agent.spentCents,
    agent_remaining_cents: agent.remainingCents,
    tenant_day: tenantDay.day,
    tenant_daily_cap_cents: tenantDay.capCents,
    tenant_spent_today_cents: tenantDay.spentCents,
    remaining_cents: remainingCents,
  };
}
