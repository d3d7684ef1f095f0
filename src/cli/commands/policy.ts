import { Command } from "commander";
import type { StoredPolicy } from "../../db/queries/policies.js";
import { setPolicy, showPolicy } from "../../services/policies.js";
import { type CliContext, type CommonFlags, withDatabase } from "../context.js";
import { printJson } from "../output.js";
import { readJsonFile } from "../read-json-file.js";

function storedJson(policy: StoredPolicy | undefined): Record<string, unknown> | null {
  if (policy === undefined) return null;
  return {
    version: policy.version,
    content_hash: policy.contentHash,
    created_by: policy.createdBy,
    created_at: policy.createdAt.toISOString(),
    document: policy.document,
  };
}

interface PolicyFlags extends CommonFlags {
  tenantId: string;
  agentId?: string;
}

export function policyCommand(ctx: CliContext): Command {
  const policy = new Command("policy").description("show or set the policy that decides every step of a tenant's (or an agent's) runs");
  policy.addCommand(
    new Command("show")
      .description("show the tenant's policy, the agent's, and the effective one a run would get")
      .requiredOption("--tenant-id <id>", "the tenant")
      .option("--agent-id <agent>", "also show this agent's policy (by id or name) and the merged result")
      .option("--json", "print as JSON")
      .option("-v, --verbose", "show stack traces on errors")
      .action(async (flags: PolicyFlags) => {
        const view = await withDatabase(ctx, (db) => showPolicy(db, flags.tenantId, flags.agentId));
        const json = {
          tenant_policy: storedJson(view.tenant),
          agent_policy: storedJson(view.agent),
          effective: { id: view.effective.id, hash: view.effective.hash, document: view.effective.document },
          tenant_spend_today: { day: view.today.day, spent_cents: view.today.spentCents },
        };
        if (flags.json) return printJson(ctx.output, json);
        ctx.output.out(`tenant policy: ${view.tenant ? `version ${view.tenant.version}` : "none (defaults: SSRF block on, no caps)"}`);
        if (flags.agentId !== undefined) ctx.output.out(`agent policy:  ${view.agent ? `version ${view.agent.version}` : "none"}`);
        ctx.output.out(`effective:     ${view.effective.id} (hash ${view.effective.hash})`);
        for (const line of JSON.stringify(view.effective.document, null, 2).split("\n")) ctx.output.out(`  ${line}`);
        const cap = view.effective.document.caps.tenant_daily_cost_cents;
        ctx.output.out(`tenant spend today (${view.today.day} UTC): ${view.today.spentCents}c${cap === null ? " (no daily cap)" : ` of ${cap}c daily cap`}`);
      }),
  );
  policy.addCommand(
    new Command("set")
      .description("store a policy file as the next version of the tenant's (or the agent's) policy")
      .requiredOption("--tenant-id <id>", "the tenant")
      .option("--agent-id <agent>", "set this agent's policy (by id or name), which can only narrow the tenant's")
      .requiredOption("--file <policy.json>", "the policy document")
      .option("--by <name>", "who is setting it (recorded with the version)")
      .option("--json", "print as JSON")
      .option("-v, --verbose", "show stack traces on errors")
      .action(async (flags: PolicyFlags & { file: string; by?: string }) => {
        const document = readJsonFile(flags.file, "policy file");
        const stored = await withDatabase(ctx, (db) =>
          setPolicy(db, { tenantId: flags.tenantId, agentId: flags.agentId, document, createdBy: flags.by }),
        );
        if (flags.json) return printJson(ctx.output, storedJson(stored));
        const whose = stored.agentId === null ? `tenant ${stored.tenantId}` : `agent ${stored.agentId}`;
        ctx.output.out(`Stored policy version ${stored.version} for ${whose} (hash ${stored.contentHash})`);
      }),
  );
  return policy;
}
