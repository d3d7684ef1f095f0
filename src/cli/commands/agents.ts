import { Command } from "commander";
import { AppError } from "../../errors.js";
import type { Agent } from "../../glossary.js";
import { updateAgent } from "../../services/agent-settings.js";
import { createAgent, listTenantAgents } from "../../services/agents.js";
import { agentJson } from "../../views/agent.js";
import { type CliContext, type CommonFlags, parseWholeNumber, withDatabase } from "../context.js";
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
    .requiredOption("-n, --name <name>", "the agent's name, unique within the tenant (other verbs take it where they take an agent id)")
    .option("--budget-cents <cents>", "the agent's budget in whole cents (default: no budget)")
    .option("--concurrent-runs-limit <n>", "how many of its runs may execute at once (default: 5)")
    .option("--allow-host <host>", ALLOW_HOST_HELP, repeated, [] as string[])
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

interface UpdateAgentFlags extends CommonFlags {
  tenantId: string;
  name?: string;
  budgetCents?: string;
  budget?: boolean;
  concurrentRunsLimit?: string;
  allowHost: string[];
  removeHost: string[];
  clearHosts?: boolean;
}

export function updateAgentCommand(ctx: CliContext): Command {
  return new Command("update-agent")
    .description("change an agent's name, budget, concurrent runs limit or allowed hosts (what is not given stays)")
    .argument("<agent>", "the agent: its id or its name")
    .requiredOption("--tenant-id <id>", "the tenant that owns the agent")
    .option("-n, --name <name>", "a new name, unique within the tenant")
    .option("--budget-cents <cents>", "a new budget in whole cents")
    .option("--no-budget", "remove the budget (the agent's spending is then unlimited)")
    .option("--concurrent-runs-limit <n>", "how many of its runs may execute at once")
    .option("--allow-host <host>", `add a host to the agent's allowed hosts: ${ALLOW_HOST_HELP}`, repeated, [] as string[])
    .option("--remove-host <host>", "take a host out of the list; removing the last one is refused, use --clear-hosts (repeatable)", repeated, [] as string[])
    .option("--clear-hosts", "empty the list first: with no --allow-host, the agent's steps may reach every host the egress floor lets through")
    .option("--json", "print the agent as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (ref: string, flags: UpdateAgentFlags) => {
      if (flags.budget === false && flags.budgetCents !== undefined) throw new AppError("USAGE", "give --budget-cents or --no-budget, not both");
      const budgetCents = flags.budget === false ? null : parseWholeNumber("--budget-cents", flags.budgetCents);
      const concurrentRunsLimit = parseWholeNumber("--concurrent-runs-limit", flags.concurrentRunsLimit);
      // --clear-hosts with --allow-host sets the list to exactly those hosts, in one change.
      const hosts = flags.clearHosts === true ? { allowedHosts: flags.allowHost } : { addHosts: flags.allowHost, removeHosts: flags.removeHost };
      if (flags.clearHosts === true && flags.removeHost.length > 0) throw new AppError("USAGE", "--clear-hosts empties the list; --remove-host has nothing to take out then");
      const agent = await withDatabase(ctx, (db) =>
        updateAgent(db, { tenantId: flags.tenantId, agent: ref, name: flags.name, budgetCents, concurrentRunsLimit, ...hosts }),
      );
      if (flags.json) return printJson(ctx.output, agentJson(agent));
      ctx.output.out(`Updated agent: ${agent.id} (${agent.name}, tenant ${agent.tenantId})`);
      for (const line of table(agentSettings(agent))) ctx.output.out(`  ${line}`);
    });
}

const ALLOW_HOST_HELP =
  "a host (name or address, optionally :port) this agent's steps may reach; listing any limits it to those, compared as written (127.0.0.1 does not cover localhost). It never opens the egress floor: loopback and private addresses need the operator's AOS_EGRESS_ALLOW (repeatable)";

function repeated(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function agentSettings(agent: Agent): string[][] {
  return [
    ["budget", agent.budgetCents === null ? "none" : `${agent.budgetCents}c (${agent.spentCents}c spent)`],
    ["concurrent runs", String(agent.concurrentRunsLimit)],
    ["allowed hosts", agent.allowedHosts.length === 0 ? "any the egress floor lets through" : agent.allowedHosts.join(", ")],
  ];
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
