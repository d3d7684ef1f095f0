import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AosClient } from "../src/client/index.js";
import { type CliChild, runCli, spawnCli, tempHome } from "./support/cli.js";

// `aos dev` as a user starts it: a real child process on a fresh AOS_HOME. What it prints must be enough to use
// it (the API's address, a key that works, where the data is), the key must stay the same across restarts, and
// Ctrl-C must stop it cleanly.

const PLAN = JSON.parse(readFileSync(new URL("../examples/summarise.json", import.meta.url), "utf8")) as { steps: unknown[] };
const started: CliChild[] = [];

afterEach(async () => {
  for (const dev of started.splice(0)) {
    if (dev.child.exitCode === null) {
      dev.child.kill("SIGKILL");
      await dev.exited;
    }
  }
});

interface Printed {
  url: string;
  key: string;
  data: string;
}

async function startDev(home: string): Promise<{ dev: CliChild; printed: Printed }> {
  const dev = spawnCli(["dev", "--port", "0", "-q"], { AOS_HOME: home });
  started.push(dev);
  for (;;) {
    const text = dev.output.stdout;
    if (text.includes("Ctrl-C stops it.")) {
      const url = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(text)?.[1];
      const key = /API key\s+(aos_[A-Za-z0-9_-]{43})/.exec(text)?.[1];
      const data = /data\s+(\S+)/.exec(text)?.[1];
      if (url === undefined || key === undefined || data === undefined) throw new Error(`aos dev printed:\n${text}`);
      return { dev, printed: { url, key, data } };
    }
    if (dev.child.exitCode !== null) throw new Error(`aos dev exited ${dev.child.exitCode}:\n${text}\n${dev.output.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(dev: CliChild): Promise<number | null> {
  dev.child.kill("SIGINT");
  return dev.exited;
}

describe("aos dev", () => {
  it("prints a working API address and key, executes a run posted to it with a VERIFIED proof, and stops on Ctrl-C", async () => {
    const home = tempHome();
    const { dev, printed } = await startDev(home);
    expect(printed.data).toBe(join(home, "pgdata"));
    expect(statSync(join(home, "dev-api-key.json")).mode & 0o777).toBe(0o600);

    const client = new AosClient({ baseUrl: printed.url, apiKey: printed.key });
    const accepted = await client.createRun({ goal: "Summarise the demo order", plan: PLAN as { steps: Record<string, unknown>[] } });
    const run = await client.waitForRun(accepted.run_id, { timeoutMs: 120_000, intervalMs: 100 });
    expect(run.status).toBe("succeeded");
    const proof = await client.getProof(run.run_id);
    expect(JSON.stringify(proof)).toContain("VERIFIED");

    // A key for another tenant's data does not exist: the printed key is the demo tenant's.
    expect(run.tenant_id).toBe("demo");
    expect(await stop(dev)).toBe(0);
    expect(dev.output.stderr).not.toContain(printed.key);
  });

  it("prints the same key on the next start, and a new one once that key is revoked", async () => {
    const home = tempHome();
    const first = await startDev(home);
    expect(await stop(first.dev)).toBe(0);
    const second = await startDev(home);
    expect(second.printed.key).toBe(first.printed.key);
    expect(await stop(second.dev)).toBe(0);

    const listed = await runCli(["api-keys", "list", "--tenant-id", "demo", "--json"], { AOS_HOME: home });
    expect(listed.code).toBe(0);
    const [devKey] = JSON.parse(listed.stdout) as { id: string }[];
    expect((await runCli(["api-keys", "revoke", devKey?.id ?? "", "--tenant-id", "demo"], { AOS_HOME: home })).code).toBe(0);

    const third = await startDev(home);
    expect(third.printed.key).not.toBe(first.printed.key);
    const client = new AosClient({ baseUrl: third.printed.url, apiKey: third.printed.key });
    expect(Array.isArray(await client.listRuns())).toBe(true);
    expect(await stop(third.dev)).toBe(0);
  });
});
