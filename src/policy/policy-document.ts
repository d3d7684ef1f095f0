import { z } from "zod";
import { formatPath, type InputIssue } from "../input-issues.js";
import { canonicalBytes } from "../trace/canonical-json.js";
import { sha256Hex } from "../trace/digest.js";

// A host name (any case; IPv4 addresses fit too), "*." and a host name for its subdomains, or a bracketed IPv6.
const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const HOST_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$|^\\[[0-9a-f:.]+\\]$`, "i");

const skillList = z.array(z.string({ error: "expected a skill name" }).min(1, { error: "expected a skill name" }), {
  error: "expected a list of skill names",
});

const hostList = z.array(
  z
    .string({ error: "expected a host name" })
    .max(253, { error: "a host name has at most 253 characters" })
    .regex(HOST_PATTERN, {
      error: (issue) =>
        `expected a host name such as "api.example.com" or a wildcard such as "*.example.com", ` +
        `not ${JSON.stringify(issue.input)}`,
    }),
  { error: "expected a list of host names" },
);

const wholeNumber = (error: string, minimum: number) => z.int({ error }).min(minimum, { error });
const cents = wholeNumber("expected a whole number of cents >= 0", 0);
const tokens = wholeNumber("expected a whole number of tokens >= 0", 0);

const notAnObject = (issue: { code: string }): string | undefined =>
  issue.code === "invalid_type" ? "expected an object" : undefined;

const httpShape = z.strictObject(
  { allow_hosts: hostList.optional(), deny_hosts: hostList.optional() },
  { error: notAnObject },
);

const capsShape = z.strictObject(
  {
    step_cost_cents: cents.optional(),
    run_cost_cents: cents.optional(),
    step_tokens: tokens.optional(),
    run_tokens: tokens.optional(),
    tenant_daily_cost_cents: cents.optional(),
  },
  { error: notAnObject },
);

/**
 * A policy as users write it in policy.json, for a tenant or for an agent. Every object is strict, so a misspelt
 * field ("allowed_skill") is an error rather than a rule that silently does nothing. Absent fields restrict
 * nothing; `allow_hosts: []` does not restrict either, but `allowed_skills: []` allows no skill.
 */
const policyDocumentSchema = z.strictObject(
  {
    allowed_skills: skillList.optional(),
    require_approval: skillList.optional(),
    http: httpShape.optional(),
    caps: capsShape.optional(),
    steps_per_minute: wholeNumber("expected a whole number of steps >= 1", 1).optional(),
    emergency_stop: z.boolean({ error: "expected true or false" }).optional(),
  },
  { error: (issue) => (issue.code === "invalid_type" ? "expected a JSON object" : undefined) },
);

export type PolicyDocument = z.infer<typeof policyDocumentSchema>;

const KNOWN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  "": Object.keys(policyDocumentSchema.shape),
  http: Object.keys(httpShape.shape),
  caps: Object.keys(capsShape.shape),
};

const SKILL_FIELDS = ["allowed_skills", "require_approval"] as const;

export interface ParsePolicyOptions {
  /** The registered skills; when given, a name outside it in allowed_skills or require_approval is an error. */
  knownSkills?: readonly string[];
  /** Whose policy this is: an agent's may not set the tenant's daily cap. */
  scope?: "tenant" | "agent";
}

export type ParsePolicyResult = { ok: true; policy: PolicyDocument } | { ok: false; issues: InputIssue[] };

/** Validates a policy document; returns every problem found, each with the path of the offending field. */
export function parsePolicyDocument(json: unknown, options: ParsePolicyOptions = {}): ParsePolicyResult {
  const parsed = policyDocumentSchema.safeParse(json);
  const issues: InputIssue[] = parsed.success ? [] : parsed.error.issues.flatMap(toPolicyIssues);
  if (options.knownSkills !== undefined) issues.push(...unknownSkillIssues(json, options.knownSkills));
  if (options.scope === "agent" && parsed.success && parsed.data.caps?.tenant_daily_cost_cents !== undefined) {
    issues.push({
      code: "INVALID_POLICY",
      path: "caps.tenant_daily_cost_cents",
      message: "the tenant's daily cap belongs in the tenant's policy, not an agent's",
    });
  }
  if (issues.length > 0 || !parsed.success) return { ok: false, issues };
  return { ok: true, policy: parsed.data };
}

function toPolicyIssues(issue: z.core.$ZodIssue): InputIssue[] {
  if (issue.code !== "unrecognized_keys") {
    return [{ code: "INVALID_POLICY", path: formatPath(issue.path), message: issue.message }];
  }
  const known = (KNOWN_FIELDS[formatPath(issue.path)] ?? []).join(", ");
  return issue.keys.map((key) => ({
    code: "UNKNOWN_POLICY_FIELD",
    path: formatPath([...issue.path, key]),
    message: `unknown field "${key}"; expected one of ${known}`,
  }));
}

// Read from the raw input, so an unknown skill is reported together with any shape problems elsewhere.
function unknownSkillIssues(json: unknown, knownSkills: readonly string[]): InputIssue[] {
  if (typeof json !== "object" || json === null) return [];
  const known = new Set(knownSkills);
  const valid =
    knownSkills.length === 0 ? "no skills are registered" : `valid skills are ${[...knownSkills].sort().join(", ")}`;
  const issues: InputIssue[] = [];
  for (const field of SKILL_FIELDS) {
    const names: unknown = (json as Record<string, unknown>)[field];
    if (!Array.isArray(names)) continue;
    names.forEach((name: unknown, index) => {
      if (typeof name === "string" && name !== "" && !known.has(name)) {
        issues.push({ code: "UNKNOWN_SKILL", path: `${field}[${index}]`, message: `unknown skill "${name}"; ${valid}` });
      }
    });
  }
  return issues;
}

/**
 * The merged policy in canonical form: every field present, arrays lower-cased (hosts), de-duplicated and sorted,
 * null meaning "no restriction". Two policies that decide alike have the same normalised document, and so the
 * same hash. `allow_hosts: []` here means no host is allowed (a tenant and an agent list with nothing in common).
 */
export interface NormalisedPolicy {
  allowed_skills: string[] | null;
  require_approval: string[];
  http: { allow_hosts: string[] | null; deny_hosts: string[] };
  caps: {
    step_cost_cents: number | null;
    run_cost_cents: number | null;
    step_tokens: number | null;
    run_tokens: number | null;
    /** What all the tenant's agents together may spend per UTC day; from the tenant's policy only. */
    tenant_daily_cost_cents: number | null;
  };
  steps_per_minute: number | null;
  emergency_stop: boolean;
}

/** Host patterns split for matching without allocating: exact names, and "*.x" wildcards as ".x" suffixes. */
export interface HostMatcher {
  readonly exact: ReadonlySet<string>;
  readonly suffixes: readonly string[];
  /** The pattern each suffix came from, at the same index, for naming it in a reason. */
  readonly wildcards: readonly string[];
}

export interface EffectivePolicy {
  /** Which policy versions were merged: "tenant:v3+agent:v1", "tenant:v3", "agent:v1" or "default". */
  readonly id: string;
  /** sha256 of the canonical JSON of `document`: the hash of the policy version used, stored in each decision. */
  readonly hash: string;
  readonly document: Readonly<NormalisedPolicy>;
  readonly allowedSkills: ReadonlySet<string> | null;
  readonly requireApproval: ReadonlySet<string>;
  readonly allowHosts: HostMatcher | null;
  readonly denyHosts: HostMatcher | null;
}

export interface PolicyVersions {
  tenantVersion: number | null;
  agentVersion: number | null;
}

/**
 * Merges a tenant's and an agent's policy. The agent policy can only narrow the tenant's: skills are intersected,
 * approvals and denied hosts are united, both allow-lists must allow a host, caps and rates take the minimum.
 * An emergency stop on either policy stops the agent (a stop can never widen anything). No policy at all allows
 * everything with no caps; the SSRF block is enforced by the HTTP skills, not here.
 */
export function effectivePolicy(
  tenant: PolicyDocument | undefined,
  agent: PolicyDocument | undefined,
  versions: PolicyVersions,
): EffectivePolicy {
  const document = mergePolicies(tenant, agent);
  return Object.freeze({
    id: policyId(tenant, agent, versions),
    hash: sha256Hex(canonicalBytes(document)),
    document: deepFreeze(document),
    allowedSkills: document.allowed_skills === null ? null : new Set(document.allowed_skills),
    requireApproval: new Set(document.require_approval),
    allowHosts: document.http.allow_hosts === null ? null : hostMatcher(document.http.allow_hosts),
    denyHosts: document.http.deny_hosts.length === 0 ? null : hostMatcher(document.http.deny_hosts),
  });
}

function mergePolicies(tenant: PolicyDocument | undefined, agent: PolicyDocument | undefined): NormalisedPolicy {
  return {
    allowed_skills: intersectSkills(tenant?.allowed_skills, agent?.allowed_skills),
    require_approval: sortedUnique([...(tenant?.require_approval ?? []), ...(agent?.require_approval ?? [])]),
    http: {
      allow_hosts: intersectAllowHosts(allowList(tenant), allowList(agent)),
      deny_hosts: normaliseHosts([...(tenant?.http?.deny_hosts ?? []), ...(agent?.http?.deny_hosts ?? [])]),
    },
    caps: {
      step_cost_cents: minimum(tenant?.caps?.step_cost_cents, agent?.caps?.step_cost_cents),
      run_cost_cents: minimum(tenant?.caps?.run_cost_cents, agent?.caps?.run_cost_cents),
      step_tokens: minimum(tenant?.caps?.step_tokens, agent?.caps?.step_tokens),
      run_tokens: minimum(tenant?.caps?.run_tokens, agent?.caps?.run_tokens),
      tenant_daily_cost_cents: tenant?.caps?.tenant_daily_cost_cents ?? null,
    },
    steps_per_minute: minimum(tenant?.steps_per_minute, agent?.steps_per_minute),
    emergency_stop: tenant?.emergency_stop === true || agent?.emergency_stop === true,
  };
}

function policyId(tenant: PolicyDocument | undefined, agent: PolicyDocument | undefined, versions: PolicyVersions): string {
  const parts: string[] = [];
  if (tenant !== undefined) parts.push(versions.tenantVersion === null ? "tenant" : `tenant:v${versions.tenantVersion}`);
  if (agent !== undefined) parts.push(versions.agentVersion === null ? "agent" : `agent:v${versions.agentVersion}`);
  return parts.length === 0 ? "default" : parts.join("+");
}

function intersectSkills(tenant: readonly string[] | undefined, agent: readonly string[] | undefined): string[] | null {
  if (tenant === undefined) return agent === undefined ? null : sortedUnique(agent);
  if (agent === undefined) return sortedUnique(tenant);
  const agentSkills = new Set(agent);
  return sortedUnique(tenant.filter((skill) => agentSkills.has(skill)));
}

/** A document's allow-list, or null when it sets none: an empty list restricts nothing. */
function allowList(policy: PolicyDocument | undefined): string[] | null {
  const hosts = policy?.http?.allow_hosts;
  return hosts === undefined || hosts.length === 0 ? null : normaliseHosts(hosts);
}

/** Hosts both lists allow, as patterns: the union of the pairwise intersections of their patterns. */
function intersectAllowHosts(tenant: string[] | null, agent: string[] | null): string[] | null {
  if (tenant === null || agent === null) return tenant ?? agent;
  const both: string[] = [];
  for (const a of tenant) {
    for (const b of agent) {
      const common = intersectPatterns(a, b);
      if (common !== undefined) both.push(common);
    }
  }
  return normaliseHosts(both);
}

function intersectPatterns(a: string, b: string): string | undefined {
  const aWild = a.startsWith("*.");
  const bWild = b.startsWith("*.");
  if (!aWild && !bWild) return a === b ? a : undefined;
  if (aWild && !bWild) return wildcardCovers(a, b) ? b : undefined;
  if (!aWild) return wildcardCovers(b, a) ? a : undefined;
  if (a === b || wildcardCovers(b, a.slice(2))) return a;
  return wildcardCovers(a, b.slice(2)) ? b : undefined;
}

/** "*.x" covers every name ending in ".x", at any depth, but not "x" itself. */
function wildcardCovers(wildcard: string, host: string): boolean {
  return host.endsWith(wildcard.slice(1));
}

/** Lower-cased, de-duplicated, sorted, and without patterns a wildcard in the same list already covers. */
function normaliseHosts(patterns: readonly string[]): string[] {
  const unique = sortedUnique(patterns.map((pattern) => pattern.toLowerCase()));
  const wildcards = unique.filter((pattern) => pattern.startsWith("*."));
  return unique.filter(
    (pattern) =>
      !wildcards.some((wildcard) => wildcardCovers(wildcard, pattern.startsWith("*.") ? pattern.slice(2) : pattern)),
  );
}

function hostMatcher(patterns: readonly string[]): HostMatcher {
  const wildcards = patterns.filter((pattern) => pattern.startsWith("*."));
  return Object.freeze({
    exact: new Set(patterns.filter((pattern) => !pattern.startsWith("*."))),
    suffixes: Object.freeze(wildcards.map((wildcard) => wildcard.slice(1))),
    wildcards: Object.freeze(wildcards),
  });
}

/** The pattern in `matcher` that matches `host` (lower-case, no trailing dot), or undefined. Allocation-free. */
export function matchHost(matcher: HostMatcher, host: string): string | undefined {
  if (matcher.exact.has(host)) return host;
  for (let index = 0; index < matcher.suffixes.length; index += 1) {
    if (host.endsWith(matcher.suffixes[index] as string)) return matcher.wildcards[index];
  }
  return undefined;
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function minimum(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined) return b ?? null;
  return b === undefined ? a : Math.min(a, b);
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const item of Object.values(value)) {
    if (typeof item === "object" && item !== null) deepFreeze(item as object);
  }
  return Object.freeze(value);
}
