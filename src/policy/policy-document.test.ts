import { describe, expect, it } from "vitest";
import { effectivePolicy, parsePolicyDocument, type PolicyDocument } from "./policy-document.js";

const noVersions = { tenantVersion: null, agentVersion: null };

function issuesOf(json: unknown, knownSkills?: readonly string[]) {
  const result = parsePolicyDocument(json, knownSkills === undefined ? {} : { knownSkills });
  if (result.ok) throw new Error(`expected ${JSON.stringify(json)} to be refused`);
  return result.issues;
}

describe("parsePolicyDocument", () => {
  it("accepts the full document users write", () => {
    const json = {
      allowed_skills: ["http_call", "json_transform"],
      require_approval: ["webhook_send"],
      http: { allow_hosts: ["api.example.com", "*.example.org"], deny_hosts: ["evil.example"] },
      caps: { step_cost_cents: 10, run_cost_cents: 100, step_tokens: 2000, run_tokens: 10000 },
      steps_per_minute: 60,
      emergency_stop: false,
    };
    expect(parsePolicyDocument(json, { knownSkills: ["http_call", "json_transform", "webhook_send"] })).toEqual({ ok: true, policy: json });
    expect(parsePolicyDocument({})).toEqual({ ok: true, policy: {} });
  });

  it("rejects unknown fields at every level, naming the field and the valid ones", () => {
    const issues = issuesOf({ allowed_skill: ["http_call"], caps: { step_cost: 5 }, http: { allow: [] } });
    expect(issues).toHaveLength(3);
    expect(issues).toEqual(expect.arrayContaining([
      {
        code: "UNKNOWN_POLICY_FIELD",
        path: "allowed_skill",
        message: 'unknown field "allowed_skill"; expected one of allowed_skills, require_approval, http, caps, steps_per_minute, emergency_stop',
      },
      {
        code: "UNKNOWN_POLICY_FIELD",
        path: "http.allow",
        message: 'unknown field "allow"; expected one of allow_hosts, deny_hosts',
      },
      {
        code: "UNKNOWN_POLICY_FIELD",
        path: "caps.step_cost",
        message: 'unknown field "step_cost"; expected one of step_cost_cents, run_cost_cents, step_tokens, run_tokens, tenant_daily_cost_cents',
      },
    ]));
  });

  it("says what a cap, a rate and the stop switch must be", () => {
    const issues = issuesOf({
      caps: { step_cost_cents: -1, run_cost_cents: 1.5, step_tokens: "2000", run_tokens: -3 },
      steps_per_minute: 0,
      emergency_stop: "yes",
    });
    expect(issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual([
      "caps.step_cost_cents: expected a whole number of cents >= 0",
      "caps.run_cost_cents: expected a whole number of cents >= 0",
      "caps.step_tokens: expected a whole number of tokens >= 0",
      "caps.run_tokens: expected a whole number of tokens >= 0",
      "steps_per_minute: expected a whole number of steps >= 1",
      "emergency_stop: expected true or false",
    ]);
    expect(issues.every((issue) => issue.code === "INVALID_POLICY")).toBe(true);
  });

  it("rejects wrong types and malformed host patterns", () => {
    expect(issuesOf([])).toEqual([{ code: "INVALID_POLICY", path: "", message: "expected a JSON object" }]);
    expect(issuesOf({ allowed_skills: "http_call", http: "api.example.com", caps: 5 })).toEqual([
      { code: "INVALID_POLICY", path: "allowed_skills", message: "expected a list of skill names" },
      { code: "INVALID_POLICY", path: "http", message: "expected an object" },
      { code: "INVALID_POLICY", path: "caps", message: "expected an object" },
    ]);
    expect(issuesOf({ require_approval: [""], http: { deny_hosts: ["https://evil.example/x", "*", "a.*.b", 7] } })).toEqual([
      { code: "INVALID_POLICY", path: "require_approval[0]", message: "expected a skill name" },
      {
        code: "INVALID_POLICY",
        path: "http.deny_hosts[0]",
        message: 'expected a host name such as "api.example.com" or a wildcard such as "*.example.com", not "https://evil.example/x"',
      },
      expect.objectContaining({ path: "http.deny_hosts[1]" }),
      expect.objectContaining({ path: "http.deny_hosts[2]" }),
      { code: "INVALID_POLICY", path: "http.deny_hosts[3]", message: "expected a host name" },
    ]);
  });

  it("accepts host names in any case, IP addresses and wildcards", () => {
    const http = { allow_hosts: ["API.Example.com", "*.example.org", "93.184.215.14", "[2606:4700::1]"] };
    expect(parsePolicyDocument({ http }).ok).toBe(true);
  });

  it("rejects unknown skills when the registry is given, listing the valid ones, alongside other problems", () => {
    const issues = issuesOf(
      { allowed_skills: ["http_call", "http_cal"], require_approval: ["webhok_send"], steps_per_minute: -1 },
      ["webhook_send", "http_call"],
    );
    expect(issues).toEqual([
      expect.objectContaining({ path: "steps_per_minute" }),
      { code: "UNKNOWN_SKILL", path: "allowed_skills[1]", message: 'unknown skill "http_cal"; valid skills are http_call, webhook_send' },
      { code: "UNKNOWN_SKILL", path: "require_approval[0]", message: 'unknown skill "webhok_send"; valid skills are http_call, webhook_send' },
    ]);
    expect(parsePolicyDocument({ allowed_skills: ["anything"] }).ok).toBe(true);
  });
});

describe("effectivePolicy", () => {
  it("allows everything with no caps when there is no policy", () => {
    const policy = effectivePolicy(undefined, undefined, noVersions);
    expect(policy.id).toBe("default");
    expect(policy.document).toEqual({
      allowed_skills: null,
      require_approval: [],
      http: { allow_hosts: null, deny_hosts: [] },
      caps: { step_cost_cents: null, run_cost_cents: null, step_tokens: null, run_tokens: null, tenant_daily_cost_cents: null },
      steps_per_minute: null,
      emergency_stop: false,
    });
    expect(policy.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("names the policy versions it merged", () => {
    expect(effectivePolicy({}, {}, { tenantVersion: 3, agentVersion: 1 }).id).toBe("tenant:v3+agent:v1");
    expect(effectivePolicy({}, undefined, { tenantVersion: 3, agentVersion: null }).id).toBe("tenant:v3");
    expect(effectivePolicy(undefined, {}, { tenantVersion: null, agentVersion: 2 }).id).toBe("agent:v2");
  });

  it("lets the agent policy only narrow the tenant's", () => {
    const tenant: PolicyDocument = {
      allowed_skills: ["http_call", "json_transform", "webhook_send"],
      require_approval: ["webhook_send"],
      http: { allow_hosts: ["*.example.org", "api.example.com"], deny_hosts: ["bad.example.org"] },
      caps: { step_cost_cents: 10, run_cost_cents: 100, step_tokens: 500, tenant_daily_cost_cents: 2000 },
      steps_per_minute: 60,
    };
    const agent: PolicyDocument = {
      allowed_skills: ["json_transform", "http_call", "llm_invoke"],
      require_approval: ["http_call"],
      http: { allow_hosts: ["data.example.org", "api.example.com", "elsewhere.test"], deny_hosts: ["worse.example.org"] },
      caps: { step_cost_cents: 20, run_cost_cents: 50, run_tokens: 1000 },
      steps_per_minute: 120,
      emergency_stop: false,
    };
    expect(effectivePolicy(tenant, agent, noVersions).document).toEqual({
      allowed_skills: ["http_call", "json_transform"],
      require_approval: ["http_call", "webhook_send"],
      http: { allow_hosts: ["api.example.com", "data.example.org"], deny_hosts: ["bad.example.org", "worse.example.org"] },
      caps: { step_cost_cents: 10, run_cost_cents: 50, step_tokens: 500, run_tokens: 1000, tenant_daily_cost_cents: 2000 },
      steps_per_minute: 60,
      emergency_stop: false,
    });
  });

  it("intersects wildcard allow-lists by pattern, and allows no host when they share none", () => {
    const wide = { http: { allow_hosts: ["*.example.org"] } };
    expect(effectivePolicy(wide, { http: { allow_hosts: ["*.api.example.org"] } }, noVersions).document.http.allow_hosts).toEqual([
      "*.api.example.org",
    ]);
    // "*.x" does not cover "x" itself, so nothing is left.
    expect(effectivePolicy(wide, { http: { allow_hosts: ["example.org", "other.test"] } }, noVersions).document.http.allow_hosts).toEqual([]);
    // An empty allow-list restricts nothing, on either side.
    expect(effectivePolicy(wide, { http: { allow_hosts: [] } }, noVersions).document.http.allow_hosts).toEqual(["*.example.org"]);
    expect(effectivePolicy({ http: { allow_hosts: [] } }, undefined, noVersions).document.http.allow_hosts).toBeNull();
  });

  it("keeps an agent's empty skill list as 'no skill allowed', and a tenant's absent list as no restriction", () => {
    expect(effectivePolicy({}, { allowed_skills: [] }, noVersions).document.allowed_skills).toEqual([]);
    expect(effectivePolicy({}, { allowed_skills: ["b", "a"] }, noVersions).document.allowed_skills).toEqual(["a", "b"]);
  });

  it("honours an emergency stop on either policy", () => {
    expect(effectivePolicy({ emergency_stop: true }, { emergency_stop: false }, noVersions).document.emergency_stop).toBe(true);
    expect(effectivePolicy({}, { emergency_stop: true }, noVersions).document.emergency_stop).toBe(true);
  });

  it("is frozen, so a shared policy cannot be changed under a running decision", () => {
    const policy = effectivePolicy({ allowed_skills: ["a"] }, undefined, noVersions);
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.document.allowed_skills)).toBe(true);
    expect(Object.isFrozen(policy.document.caps)).toBe(true);
  });
});

describe("the policy hash", () => {
  const hashOf = (tenant?: PolicyDocument, agent?: PolicyDocument) => effectivePolicy(tenant, agent, noVersions).hash;

  it("does not depend on key order, array order, case, duplicates or redundant patterns", () => {
    const a: PolicyDocument = {
      allowed_skills: ["http_call", "json_transform"],
      http: { allow_hosts: ["API.example.com", "*.example.org"], deny_hosts: ["x.test"] },
      caps: { step_cost_cents: 10, run_tokens: 5 },
    };
    const b: PolicyDocument = {
      caps: { run_tokens: 5, step_cost_cents: 10 },
      http: { deny_hosts: ["x.test", "x.test"], allow_hosts: ["*.example.org", "api.example.com", "www.example.org"] },
      allowed_skills: ["json_transform", "http_call", "http_call"],
    };
    expect(hashOf(a)).toBe(hashOf(b));
  });

  it("is the same for absent and empty or false settings, which decide alike", () => {
    expect(hashOf()).toBe(hashOf({ require_approval: [], http: { allow_hosts: [], deny_hosts: [] }, caps: {}, emergency_stop: false }));
  });

  it("is the same whether a rule comes from the tenant or the agent, since only the merged rules decide", () => {
    expect(hashOf({ caps: { step_tokens: 5 } }, {})).toBe(hashOf({}, { caps: { step_tokens: 5 } }));
  });

  it("changes when any rule changes", () => {
    const base: PolicyDocument = { allowed_skills: ["a"], caps: { step_cost_cents: 10 } };
    const variants: PolicyDocument[] = [
      { ...base, allowed_skills: ["a", "b"] },
      { ...base, allowed_skills: [] },
      { allowed_skills: ["a"] },
      { ...base, caps: { step_cost_cents: 11 } },
      { ...base, caps: { step_cost_cents: 10, run_cost_cents: 10 } },
      { ...base, require_approval: ["a"] },
      { ...base, http: { allow_hosts: ["a.test"] } },
      { ...base, http: { deny_hosts: ["a.test"] } },
      { ...base, steps_per_minute: 1 },
      { ...base, emergency_stop: true },
    ];
    const hashes = new Set([base, ...variants].map((document) => hashOf(document)));
    expect(hashes.size).toBe(variants.length + 1);
    // "allow only hosts in common, of which there are none" must not hash like "no host restriction".
    expect(hashOf({ http: { allow_hosts: ["a.test"] } }, { http: { allow_hosts: ["b.test"] } })).not.toBe(hashOf());
  });
});
