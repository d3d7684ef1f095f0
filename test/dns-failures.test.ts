import { expect, it } from "vitest";
import { describeFailure, isFailureCode } from "../src/failure-catalog.js";
import { describeSkill, findSkill } from "../src/skills/registry.js";
import { describeOnBackends } from "./support/databases.js";
import { runToEnd, testConfig } from "./support/harness.js";
import { runCli } from "./support/cli.js";

// `aos skill http_call` lists, per failure code, whether it is retried; a step to a host that does not resolve must
// be retried exactly as that listing says. `.invalid` never resolves (RFC 2606 §2, RFC 6761 §6.4): a resolver that
// answers says NXDOMAIN (HOST_NOT_FOUND, final), one that cannot reach its upstream fails (DNS_ERROR, retried). Either
// way nothing here needs the internet, and the test holds the run to the listing for the code it actually got.

const config = testConfig();
const RETRIES = 2;
const plan = { steps: [{ step_id: "fetch", skill: "http_call", params: { url: "http://nonexistent.invalid/" }, retry_count: RETRIES }] };

describeOnBackends("a step to a host that does not resolve, on $name", (backend) => {
  it("gets as many attempts as the listing of its failure code promises: one for HOST_NOT_FOUND, retry_count + 1 for DNS_ERROR", async () => {
    const db = await backend.open();
    try {
      const detail = await runToEnd(db, config, { tenantId: `dns-${backend.name}`, goal: "resolve", plan });
      // Each attempt is recorded as a started intent, then its outcome: the outcomes are the attempts.
      const attempts = detail.steps.filter((step) => step.stepId === "fetch" && step.status !== "started");
      const codes = new Set(attempts.map((step) => step.outcomeCode));
      expect(codes.size).toBe(1);
      const [code] = [...codes];
      expect(["HOST_NOT_FOUND", "DNS_ERROR"]).toContain(code);
      if (code === undefined || !isFailureCode(code)) throw new Error(`unexpected code ${code}`);
      const listed = describeSkill(findSkill("http_call")!).failures.find((failure) => failure.code === code);
      expect(listed?.retryable).toBe(describeFailure(code).retryable);
      expect(attempts.length).toBe(listed?.retryable ? RETRIES + 1 : 1);
      expect(attempts.every((step) => step.error?.retryable === listed?.retryable)).toBe(true);
      expect(detail.run.status).toBe("failed");
    } finally {
      await db.close();
    }
  });
});

it("`aos skill http_call` lists HOST_NOT_FOUND as final and DNS_ERROR as retryable, in text and in JSON", async () => {
  const json = await runCli(["skill", "http_call", "--json"], {});
  expect(json.code).toBe(0);
  const failures = JSON.parse(json.stdout).failures as { code: string; retryable: boolean }[];
  expect(failures.filter((failure) => failure.code.endsWith("NOT_FOUND") || failure.code.startsWith("DNS"))).toEqual([
    expect.objectContaining({ code: "DNS_ERROR", retryable: true }),
    expect.objectContaining({ code: "HOST_NOT_FOUND", retryable: false }),
  ]);
  const text = await runCli(["skill", "http_call"], {});
  expect(text.stdout).toMatch(/DNS_ERROR\s+TRANSIENT\s+retryable/);
  expect(text.stdout).toMatch(/HOST_NOT_FOUND\s+PERMANENT\s+final/);
});
