import { Command } from "commander";
import { createAgent, listTenantAgents } from "../../services/agents.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
import { agentJson } from "../../views/agent.js";
import { printJson, table } from "../output.js";

interface CreateAgentFlags extends CommonFlags {
  tenantId: string;
  name: string;
  budgetCents?: string;
  concurrentRunsLimit?: string;
  allowHost: string[];
}

export function createAgentCommand(ctx: CliContext): Command {
  return new Command("create-agent")
    .description("create an agent for a tenant")
    .requiredOption("--tenant-id <id>", "the tenant that owns the agent")
    .requiredOption("-n, --name <name>", "the agent's name")
    .option("--budget-cents <cents>", "the agent's budget in whole cents (default: no budget)")
    .option("--concurrent-runs-limit <n>", "how many of its runs may execute at once (default: 5)")
    .option(
      "--allow-host <host>",
      "a host (name or address, optionally :port) this agent's steps may reach; listing any limits it to those. It never opens the egress floor: loopback and private addresses need the operator's AOS_EGRESS_ALLOW (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--json", "print the agent as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CreateAgentFlags) => {
      const budgetCents = parseWholeNumber("--budget-cents", flags.budgetCents);
      const concurrentRunsLimit = parseWholeNumber("--concurrent-runs-limit", flags.concurrentRunsLimit);
      const agent = await withDatabase(ctx, (db) =>
        createAgent(db, { tenantId: flags.tenantId, name: flags.name, budgetCents, concurrentRunsLimit, allowedHosts: flags.allowHost }),
      );
      if (flags.json) printJson(ctx.output, agentJson(agent));
      else ctx.output.out(`Created agent: ${agent.id} (${agent.name}, tenant ${agent.tenantId})`);
    });
}

export function listAgentsCommand(ctx: CliContext): Command {
  return new Command("list-agents")
    .description("list a tenant's agents")
    .requiredOption("--tenant-id <id>", "the tenant")
    .option("--json", "print the agents as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: CommonFlags & { tenantId: string }) => {
      const agents = await withDatabase(ctx, (db) => listTenantAgents(db, flags.tenantId));
      if (flags.json) return printJson(ctx.output, agents.map(agentJson));
      if (agents.length === 0) return ctx.output.out(`No agents for tenant ${flags.tenantId}.`);
      const rows = agents.map((agent) => [
        agent.id,
        agent.name + (agent.isDefault ? " (default)" : ""),
        agent.status,
        agent.budgetCents === null ? "no budget" : `${agent.budgetCents - agent.spentCents}c of ${agent.budgetCents}c left`,
      ]);
      for (const line of table([["AGENT", "NAME", "STATUS", "BUDGET"], ...rows])) ctx.output.out(line);
    });
}
