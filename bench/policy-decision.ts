import { decide, type DecisionInput } from "../src/policy/decide.js";
import { effectivePolicy } from "../src/policy/policy-document.js";
import { goal, type Benchmark, type BenchContext, type BenchmarkReport } from "./support/benchmark.js";
import { perCallUs, percentiles, ratio } from "./support/stats.js";

const SAMPLES = 2_000;
const BATCH = 100;


// A policy that exercises every built-in rule, and a step that passes them all (the common, longest path).
const POLICY = effectivePolicy(
  {
    allowed_skills: ["http_call", "json_transform", "fail_trigger"],
    require_approval: ["webhook_send"],
    http: { allow_hosts: ["api.example.com", "*.example.org"], deny_hosts: ["evil.example", "*.internal.example"] },
    caps: { step_cost_cents: 50, run_cost_cents: 500, step_tokens: 4000, run_tokens: 40000 },
    steps_per_minute: 120,
  },
  { allowed_skills: ["http_call", "json_transform"], caps: { run_cost_cents: 300 } },
  { tenantVersion: 3, agentVersion: 1 },
);
const ALLOWED: DecisionInput = {
  skill: "http_call",
  hosts: ["data.example.org"],
  estimatedCostCents: 2,
  estimatedTokens: 0,
  runCostCents: 40,
  runTokens: 1200,
  agentStepsLastMinute: 17,
};
const DENIED: DecisionInput = { ...ALLOWED, hosts: ["db.internal.example"] };

async function run(ctx: BenchContext): Promise<BenchmarkReport> {
  ctx.progress(`${SAMPLES} samples × ${BATCH} decisions, allowed and denied, beside an empty call`);
  const allow: number[] = [];
  const deny: number[] = [];
  const empty: number[] = [];
  let sink = 0;
  for (let sample = 0; sample < SAMPLES; sample++) {
    allow.push(perCallUs(() => decide(POLICY, ALLOWED), BATCH));
    deny.push(perCallUs(() => decide(POLICY, DENIED), BATCH));
    empty.push(perCallUs(() => (sink += 1), BATCH));
  }
  if (decide(POLICY, ALLOWED).action !== "allow" || decide(POLICY, DENIED).action !== "deny") {
    throw new Error("the benchmark's policy does not decide as intended");
  }
  const allowed = percentiles(allow);
  const denied = percentiles(deny);
  const anchor = percentiles(empty);
  return {
    describes: {
      decide_allow_us: "decide() for a step every built-in rule checks and allows (skills, deny and allow hosts with wildcards, four caps, rate): µs per call",
      decide_deny_us: "decide() for a step denied by a wildcard deny-host rule: µs per call",
      empty_call_us: "anchor: an empty closure called the same way, the loop's own cost",
    },
    measurements: { decide_allow_us: allowed, decide_deny_us: denied },
    anchors: { empty_call_us: anchor },
    ratios: { decide_allow_p50_vs_empty_call_p50: ratio(allowed.p50, anchor.p50) },
    goals: [{ ...goal("policy decision per step", "p50", allowed.p50, 10), unit: "µs" }],
    settings: { samples: SAMPLES, calls_per_sample: BATCH, sink },
  };
}

export const policyDecisionBench: Benchmark = { name: "policy-decision", needsServer: false, run };
