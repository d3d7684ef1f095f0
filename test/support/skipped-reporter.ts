import type { Reporter, TestCase, TestModule } from "vitest/node";
import { SERVER_ONLY } from "./server-only.js";

/**
 * The reason a server-only suite gave for its skip, from the test's nearest suite that has one; undefined for a test
 * skipped for another reason (a `-t` filter, `.only` elsewhere, its suite's setup failed and was reported).
 */
function reasonOf(test: TestCase): string | undefined {
  for (let node: TestCase["parent"] | TestCase = test; node.type !== "module"; node = node.parent) {
    const reason = node.meta().skippedBecause;
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/**
 * Ends a run with the server-only tests it skipped, by count, reason and name, so that a plain `npm test` without
 * a PostgreSQL server says what it did not test. With CI=true a skipped server-only test fails the run: CI must
 * have the server and the server binaries (.ci/run provides both).
 */
export default class SkippedServerTestsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const byReason = new Map<string, string[]>();
    for (const module of testModules) {
      for (const test of module.children.allTests("skipped")) {
        const reason = reasonOf(test);
        if (!test.tags.includes(SERVER_ONLY) || reason === undefined) continue;
        const names = byReason.get(reason) ?? [];
        names.push(`${module.relativeModuleId} › ${test.fullName}`);
        byReason.set(reason, names);
      }
    }
    if (byReason.size === 0) return;
    const ci = process.env.CI === "true";
    const lines = [...byReason].flatMap(([reason, names]) => [
      `skipped ${names.length} server-only test${names.length === 1 ? "" : "s"} (${reason}):`,
      ...names.map((name) => `  ${name}`),
    ]);
    if (ci) lines.push("CI=true: server-only tests must run in CI, never be skipped; failing the run.");
    process.stdout.write(`\n${lines.join("\n")}\n`);
    if (ci) process.exitCode = 1;
  }
}
