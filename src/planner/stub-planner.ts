import type { Plan } from "../glossary.js";

/** Upstream's default when a goal names no URL: one GET of GitHub's zen endpoint. */
const STUB_DEFAULT_URL = "https://api.github.com/zen";

const URL_IN_GOAL = /https?:\/\/[^\s"'<>]+/i;

/**
 * The deterministic stub planner: a goal containing an http(s) URL plans a GET of that URL, any other goal
 * plans upstream's single http_call to STUB_DEFAULT_URL. Trailing sentence punctuation is not part of a URL.
 */
export function stubPlan(goal: string, planId: string): Plan {
  const found = URL_IN_GOAL.exec(goal)?.[0]?.replace(/[.,;:!?)\]]+$/, "");
  return {
    plan_id: planId,
    planner: "stub",
    steps: [
      {
        step_id: "s1",
        skill: "http_call",
        params: { url: found ?? STUB_DEFAULT_URL, method: "GET" },
        on_error: "abort",
        retry_count: 2,
        depends_on: [],
        description: `Execute goal: ${goal.slice(0, 50)}`,
      },
    ],
  };
}
