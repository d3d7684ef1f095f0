import { describe, expect, it } from "vitest";
import { runCli, tempHome, writePlan } from "./support/cli.js";

// The agent verbs as a user types them: names instead of ids, `aos update-agent` instead of a new agent, and a
// misspelt --tenant-id caught instead of read as an empty tenant.

const transformPlan = { steps: [{ step_id: "pick", skill: "json_transform", params: { payload: { a: 1 }, mapping: { a: "a" } } }] };

describe("aos create-agent, update-agent and --agent-id NAME", () => {
  const home = tempHome();
  const aos = (argv: string[]) => runCli(argv, { AOS_HOME: home, AOS_EGRESS_ALLOW: "127.0.0.1" });

  it("a duplicate name exits 1 naming the agent that has it; update-agent changes an agent found by name; run -a NAME uses it", { timeout: 300_000 }, async () => {
    const created = await aos(["create-agent", "--tenant-id", "acme", "--name", "caller", "--allow-host", "127.0.0.1", "--json"]);
    expect(created.stderr).toBe("note: created tenant acme: it did not exist before this command\n");
    const agent = JSON.parse(created.stdout) as { agent_id: string };

    const twice = await aos(["create-agent", "--tenant-id", "acme", "--name", "caller"]);
    expect([twice.code, twice.stdout]).toEqual([1, ""]);
    expect(twice.stderr).toBe(
      `error: --name: tenant acme already has an agent called "caller" (agent ${agent.agent_id})\n` +
        "hint: Choose another --name, or change the existing agent with `aos update-agent NAME --tenant-id T`.\n",
    );

    const updated = await aos(["update-agent", "caller", "--tenant-id", "acme", "--allow-host", "localhost", "--budget-cents", "300", "--concurrent-runs-limit", "2"]);
    expect([updated.code, updated.stderr]).toEqual([0, ""]);
    expect(updated.stdout).toMatch(new RegExp(`^Updated agent: ${agent.agent_id} \\(caller, tenant acme\\)\\n`));
    expect(updated.stdout).toMatch(/budget\s+300c \(0c spent\)/);
    expect(updated.stdout).toMatch(/allowed hosts\s+127\.0\.0\.1, localhost/);

    const lastHost = await aos(["update-agent", "caller", "--tenant-id", "acme", "--remove-host", "127.0.0.1", "--remove-host", "localhost"]);
    expect([lastHost.code, lastHost.stderr]).toEqual([2, expect.stringContaining("error: --remove-host: that would leave allowed_hosts empty")]);
    const cleared = await aos(["update-agent", "caller", "--tenant-id", "acme", "--clear-hosts", "--allow-host", "127.0.0.1", "--no-budget", "--json"]);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ agent_id: agent.agent_id, allowed_hosts: ["127.0.0.1"], budget_cents: null, concurrent_runs_limit: 2 });

    const ran = await aos(["run", "--tenant-id", "acme", "-a", "caller", "--goal", "by name", "--plan", writePlan(home, transformPlan), "--json"]);
    expect([ran.code, ran.stderr]).toEqual([0, ""]);
    expect(JSON.parse(ran.stdout)).toMatchObject({ agent_id: agent.agent_id, status: "succeeded" });

    const foreign = await aos(["update-agent", "caller", "--tenant-id", "other", "--budget-cents", "1"]);
    expect([foreign.code, foreign.stderr]).toEqual([1, expect.stringContaining('error: --tenant-id: no such tenant "other" (known: acme)')]);
  });

  it("a misspelt tenant: reading verbs refuse it naming the closest known tenants; simulate answers for a new tenant and says so", { timeout: 300_000 }, async () => {
    for (const argv of [
      ["list-runs", "--tenant-id", "acmee"],
      ["list-agents", "--tenant-id", "acmee"],
      ["policy", "show", "--tenant-id", "acmee"],
      ["api-keys", "list", "--tenant-id", "acmee"],
    ]) {
      const result = await aos(argv);
      expect([argv.join(" "), result.code, result.stdout, result.stderr]).toEqual([
        argv.join(" "),
        1,
        "",
        'error: --tenant-id: no such tenant "acmee" (known: acme)\n' +
          "hint: Check --tenant-id's spelling; `aos run`, `aos create-agent`, `aos api-keys create` and `aos policy set` create a tenant on first use.\n",
      ]);
    }
    const simulated = await aos(["simulate", "--tenant-id", "acmee", "--plan", writePlan(home, transformPlan)]);
    expect(simulated.code).toBe(0);
    expect(simulated.stderr).toBe('note: no such tenant "acmee" (known: acme): this answers for a new tenant, with no agents, policy or spending yet\n');
    expect((await aos(["list-agents", "--tenant-id", "acme"])).code).toBe(0);
  });
});
