import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { StepDecision } from "../glossary.js";
import { allowed, decide, type AllowDecision, type DecisionInput } from "./decide.js";
import { effectivePolicy, type PolicyDocument } from "./policy-document.js";

const noVersions = { tenantVersion: null, agentVersion: null };

const step: DecisionInput = {
  skill: "http_call",
  hosts: ["api.example.com"],
  estimatedCostCents: 5,
  estimatedTokens: 100,
  runCostCents: 0,
  runTokens: 0,
  agentStepsLastMinute: 0,
};

function decideUnder(tenant: PolicyDocument | undefined, input: Partial<DecisionInput> = {}, agent?: PolicyDocument): StepDecision {
  return decide(effectivePolicy(tenant, agent, { tenantVersion: 3, agentVersion: 1 }), { ...step, ...input });
}

describe("decide: each rule", () => {
  const cases: Array<[string, PolicyDocument, Partial<DecisionInput>, StepDecision["action"], string]> = [
    ["emergency_stop", { emergency_stop: true }, {}, "deny", "an emergency stop is in effect; no step may run"],
    [
      "allowed_skills",
      { allowed_skills: ["json_transform", "llm_invoke"] },
      {},
      "deny",
      'skill "http_call" is not in allowed_skills (allowed: json_transform, llm_invoke)',
    ],
    ["http.deny_hosts", { http: { deny_hosts: ["api.example.com"] } }, {}, "deny", 'host "api.example.com" is in deny_hosts'],
    [
      "http.allow_hosts",
      { http: { allow_hosts: ["*.example.org", "data.example.com"] } },
      {},
      "deny",
      'host "api.example.com" is not in allow_hosts (allowed: *.example.org, data.example.com)',
    ],
    [
      "caps.step_cost_cents",
      { caps: { step_cost_cents: 10 } },
      { estimatedCostCents: 12 },
      "deny",
      "estimated cost 12c exceeds the per-step cap of 10c",
    ],
    [
      "caps.run_cost_cents",
      { caps: { run_cost_cents: 100 } },
      { runCostCents: 95, estimatedCostCents: 12 },
      "deny",
      "run cost 95c plus estimated 12c is 107c, over the per-run cap of 100c",
    ],
    [
      "caps.step_tokens",
      { caps: { step_tokens: 2000 } },
      { estimatedTokens: 2500 },
      "deny",
      "estimated 2500 tokens exceed the per-step cap of 2000 tokens",
    ],
    [
      "caps.run_tokens",
      { caps: { run_tokens: 10000 } },
      { runTokens: 9000, estimatedTokens: 1500 },
      "deny",
      "run tokens 9000 plus estimated 1500 is 10500, over the per-run cap of 10000 tokens",
    ],
    [
      "steps_per_minute",
      { steps_per_minute: 60 },
      { agentStepsLastMinute: 60 },
      "deny",
      "the agent started 60 steps in the last minute; the limit is 60 per minute",
    ],
    ["require_approval", { require_approval: ["http_call"] }, {}, "require_approval", 'skill "http_call" requires approval'],
  ];

  it.each(cases)("%s decides, naming the values", (policyId, tenant, input, action, reason) => {
    const policy = effectivePolicy(tenant, undefined, noVersions);
    expect(decide(policy, { ...step, ...input })).toEqual({ action, reason, policy_id: policyId, policy_hash: policy.hash });
  });

  it("allows a step no rule objects to, naming the policy versions and hash", () => {
    const policy = effectivePolicy({ caps: { step_cost_cents: 10 } }, {}, { tenantVersion: 3, agentVersion: 1 });
    expect(decide(policy, step)).toEqual({ action: "allow", reason: "allowed", policy_id: "tenant:v3+agent:v1", policy_hash: policy.hash });
    const none = effectivePolicy(undefined, undefined, noVersions);
    expect(decide(none, { ...step, estimatedCostCents: 1e9, agentStepsLastMinute: 1e6 })).toEqual({
      action: "allow",
      reason: "allowed",
      policy_id: "default",
      policy_hash: none.hash,
    });
  });

  it("allows a value exactly at each limit", () => {
    const tenant: PolicyDocument = {
      caps: { step_cost_cents: 10, run_cost_cents: 100, step_tokens: 2000, run_tokens: 10000 },
      steps_per_minute: 60,
    };
    const atLimits = { estimatedCostCents: 10, runCostCents: 90, estimatedTokens: 2000, runTokens: 8000, agentStepsLastMinute: 59 };
    expect(decideUnder(tenant, atLimits).action).toBe("allow");
  });

  it("denies an estimate that is not a number instead of letting it pass every comparison", () => {
    const decision = decideUnder({ caps: { step_cost_cents: 10 } }, { estimatedCostCents: Number.NaN });
    expect(decision).toMatchObject({ action: "deny", policy_id: "caps.step_cost_cents" });
  });

  it("explains an empty allow-list as allowing nothing", () => {
    expect(decideUnder({}, {}, { allowed_skills: [] }).reason).toBe('skill "http_call" is not in allowed_skills (allowed: none)');
    const disjoint = decideUnder({ http: { allow_hosts: ["a.test"] } }, { hosts: ["a.test"] }, { http: { allow_hosts: ["b.test"] } });
    expect(disjoint).toMatchObject({ policy_id: "http.allow_hosts", reason: 'host "a.test" is not in allow_hosts (allowed: none)' });
  });
});

describe("decide: rule order", () => {
  const everything: PolicyDocument = {
    emergency_stop: true,
    allowed_skills: ["json_transform"],
    require_approval: ["http_call"],
    http: { allow_hosts: ["other.example"], deny_hosts: ["api.example.com"] },
    caps: { step_cost_cents: 1, run_cost_cents: 1, step_tokens: 1, run_tokens: 1 },
    steps_per_minute: 1,
  };
  const order = [
    "emergency_stop",
    "allowed_skills",
    "http.deny_hosts",
    "http.allow_hosts",
    "caps.step_cost_cents",
    "caps.run_cost_cents",
    "caps.step_tokens",
    "caps.run_tokens",
    "steps_per_minute",
    "require_approval",
  ];
  const input = { estimatedCostCents: 2, runCostCents: 0, estimatedTokens: 2, runTokens: 0, agentStepsLastMinute: 1 };

  /** `everything`, with the rules before `rule` in the order switched off. */
  function fromRule(rule: string): PolicyDocument {
    const off = new Set(order.slice(0, order.indexOf(rule)));
    return {
      emergency_stop: !off.has("emergency_stop"),
      allowed_skills: off.has("allowed_skills") ? ["http_call"] : ["json_transform"],
      require_approval: ["http_call"],
      http: {
        allow_hosts: off.has("http.allow_hosts") ? [] : ["other.example"],
        deny_hosts: off.has("http.deny_hosts") ? [] : ["api.example.com"],
      },
      caps: {
        step_cost_cents: off.has("caps.step_cost_cents") ? 2 : 1,
        run_cost_cents: off.has("caps.run_cost_cents") ? 2 : 1,
        step_tokens: off.has("caps.step_tokens") ? 2 : 1,
        run_tokens: off.has("caps.run_tokens") ? 2 : 1,
      },
      steps_per_minute: off.has("steps_per_minute") ? 2 : 1,
    };
  }

  it("lets the first objecting rule decide", () => {
    expect(decideUnder(everything, input).policy_id).toBe("emergency_stop");
    for (const rule of order) expect(decideUnder(fromRule(rule), input).policy_id).toBe(rule);
  });

  it("denies a skill that needs approval when a deny rule also applies", () => {
    expect(decideUnder({ require_approval: ["http_call"], caps: { step_cost_cents: 1 } }, input).action).toBe("deny");
  });
});

describe("decide: hosts", () => {
  const policy = effectivePolicy({ http: { allow_hosts: ["*.Example.org", "API.example.com"], deny_hosts: ["*.bad.example.org"] } }, undefined, noVersions);
  const hostDecision = (...hosts: string[]) => decide(policy, { ...step, hosts });

  it("matches a wildcard against subdomains at any depth but not the domain itself", () => {
    expect(hostDecision("data.example.org").action).toBe("allow");
    expect(hostDecision("a.b.example.org").action).toBe("allow");
    expect(hostDecision("example.org")).toMatchObject({ action: "deny", policy_id: "http.allow_hosts" });
    expect(hostDecision("notexample.org")).toMatchObject({ action: "deny", policy_id: "http.allow_hosts" });
  });

  it("ignores case and a trailing dot, in the policy and in the step's hosts", () => {
    expect(hostDecision("api.example.com").action).toBe("allow");
    expect(hostDecision("API.Example.COM").action).toBe("allow");
    expect(hostDecision("Data.EXAMPLE.org.").action).toBe("allow");
    expect(hostDecision("X.Bad.Example.Org.")).toEqual(
      expect.objectContaining({ policy_id: "http.deny_hosts", reason: 'host "x.bad.example.org" is in deny_hosts (pattern "*.bad.example.org")' }),
    );
  });

  it("checks every host of the step, deny-list first", () => {
    expect(hostDecision("api.example.com", "elsewhere.test")).toMatchObject({ action: "deny", policy_id: "http.allow_hosts" });
    expect(hostDecision("elsewhere.test", "x.bad.example.org")).toMatchObject({ action: "deny", policy_id: "http.deny_hosts" });
  });

  it("allows a step that calls no host, whatever the allow-list says", () => {
    expect(hostDecision().action).toBe("allow");
  });

  it("requires both the tenant's and the agent's allow-list to allow a host", () => {
    const tenant: PolicyDocument = { http: { allow_hosts: ["*.example.org", "api.example.com"] } };
    const agent: PolicyDocument = { http: { allow_hosts: ["*.data.example.org", "api.example.com", "elsewhere.test"] } };
    const under = (host: string) => decideUnder(tenant, { hosts: [host] }, agent).action;
    expect(under("x.data.example.org")).toBe("allow");
    expect(under("api.example.com")).toBe("allow");
    expect(under("www.example.org")).toBe("deny");
    expect(under("elsewhere.test")).toBe("deny");
  });
});

describe("allowed", () => {
  it("returns the decision only when it allows the step", () => {
    const policy = effectivePolicy({ require_approval: ["webhook_send"], allowed_skills: ["http_call", "webhook_send"] }, undefined, noVersions);
    const allow = decide(policy, step);
    expect(allowed(allow)).toBe(allow);
    expect(allowed(decide(policy, { ...step, skill: "webhook_send" }))).toBeUndefined();
    expect(allowed(decide(policy, { ...step, skill: "llm_invoke" }))).toBeUndefined();
  });

  it("is the only way to type a decision as an AllowDecision", () => {
    const plain: StepDecision = { action: "allow", reason: "allowed", policy_id: "default", policy_hash: "0".repeat(64) };
    // @ts-expect-error a StepDecision, even one that allows, is not an AllowDecision until allowed() says so
    const forged: AllowDecision = plain;
    // @ts-expect-error an object literal cannot carry the brand either
    const literal: AllowDecision = { action: "allow", reason: "allowed", policy_id: "default", policy_hash: "0".repeat(64) };
    expect([forged, literal]).toHaveLength(2);
  });
});

describe("decide: the agent policy never widens the tenant's", () => {
  const skills = ["http_call", "json_transform", "webhook_send", "llm_invoke"];
  // Nested names and wildcards, where intersecting two allow-lists is easy to get wrong.
  const hosts = ["example.org", "api.example.org", "v1.api.example.org", "x.v1.api.example.org", "www.example.com", "other.test"];
  const wildcards = ["*.example.org", "*.api.example.org", "*.v1.api.example.org", "*.example.com", "*.test"];
  const patterns = [...hosts, ...wildcards, "API.Example.org"];

  // Each rule is set about half the time, with limits mostly above the inputs below, so that most steps reach
  // the skill and host rules instead of being stopped early by an unrelated one.
  const sometimes = <T,>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 2 });
  const documentArb: fc.Arbitrary<PolicyDocument> = fc.record({
    allowed_skills: sometimes(fc.subarray(skills, { minLength: 2 })),
    require_approval: sometimes(fc.subarray(skills, { maxLength: 1 })),
    http: sometimes(
      fc.record({
        allow_hosts: sometimes(fc.subarray(patterns, { maxLength: 3 })),
        deny_hosts: sometimes(fc.subarray(patterns, { maxLength: 1 })),
      }),
    ),
    caps: sometimes(
      fc.record({
        step_cost_cents: sometimes(fc.nat(20)),
        run_cost_cents: sometimes(fc.nat(30)),
        step_tokens: sometimes(fc.nat(20)),
        run_tokens: sometimes(fc.nat(30)),
      }),
    ),
    steps_per_minute: sometimes(fc.integer({ min: 1, max: 10 })),
    emergency_stop: fc.oneof(
      { weight: 16, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
  });
  const inputArb: fc.Arbitrary<DecisionInput> = fc.record({
    skill: fc.constantFrom(...skills),
    hosts: fc.subarray([...hosts, "WWW.Example.COM", "other.test."], { maxLength: 3 }),
    estimatedCostCents: fc.nat(10),
    estimatedTokens: fc.nat(10),
    runCostCents: fc.nat(10),
    runTokens: fc.nat(10),
    agentStepsLastMinute: fc.nat(5),
  });
  const strictness: Record<StepDecision["action"], number> = { allow: 0, require_approval: 1, deny: 2 };
  const actionUnder = (tenant: PolicyDocument | undefined, agent: PolicyDocument | undefined, input: DecisionInput) =>
    decide(effectivePolicy(tenant, agent, noVersions), input).action;

  it("decides at least as strictly as the tenant policy alone, and as the agent policy alone", () => {
    fc.assert(
      fc.property(documentArb, documentArb, inputArb, (tenant, agent, input) => {
        const merged = strictness[actionUnder(tenant, agent, input)];
        expect(merged).toBeGreaterThanOrEqual(strictness[actionUnder(tenant, undefined, input)]);
        expect(merged).toBeGreaterThanOrEqual(strictness[actionUnder(undefined, agent, input)]);
      }),
      { numRuns: 2000 },
    );
  });

  it("is exactly as strict as the stricter of the two, so merging loses no permission both grant", () => {
    fc.assert(
      fc.property(documentArb, documentArb, inputArb, (tenant, agent, input) => {
        const stricter = Math.max(strictness[actionUnder(tenant, undefined, input)], strictness[actionUnder(undefined, agent, input)]);
        expect(strictness[actionUnder(tenant, agent, input)]).toBe(stricter);
      }),
      { numRuns: 2000 },
    );
  });

  it("allows a host under both allow-lists exactly when each list allows it", () => {
    const allowList = fc.subarray(patterns, { minLength: 1, maxLength: 3 });
    const allowsHost = (tenant: PolicyDocument | undefined, agent: PolicyDocument | undefined, host: string) =>
      actionUnder(tenant, agent, { ...step, hosts: [host] }) === "allow";
    fc.assert(
      fc.property(allowList, allowList, fc.constantFrom(...hosts), (tenantHosts, agentHosts, host) => {
        const tenant = { http: { allow_hosts: tenantHosts } };
        const agent = { http: { allow_hosts: agentHosts } };
        expect(allowsHost(tenant, agent, host)).toBe(allowsHost(tenant, undefined, host) && allowsHost(undefined, agent, host));
      }),
      { numRuns: 2000 },
    );
  });
});
