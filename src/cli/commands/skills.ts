import { Command } from "commander";
import { AppError } from "../../errors.js";
import { describeSkill, findSkill, listSkills } from "../../skills/registry.js";
import type { CliContext, CommonFlags } from "../context.js";
import { printJson, table } from "../output.js";

export function listSkillsCommand(ctx: CliContext): Command {
  return new Command("list-skills")
    .description("list the registered skills")
    .option("--json", "print the skills as JSON")
    .action((flags: CommonFlags) => {
      const skills = listSkills();
      if (flags.json) {
        return printJson(
          ctx.output,
          skills.map((skill) => ({ name: skill.name, version: skill.version, description: skill.description })),
        );
      }
      const rows = skills.map((skill) => [skill.name, skill.version, skill.description]);
      for (const line of table([["SKILL", "VERSION", "DESCRIPTION"], ...rows])) ctx.output.out(line);
    });
}

export function skillCommand(ctx: CliContext): Command {
  return new Command("skill")
    .description("show a skill's contract: input schema, output, determinism, side effects, limits, failure codes")
    .argument("<name>", "the skill")
    .option("--json", "print the contract as JSON")
    .action((name: string, flags: CommonFlags) => {
      const skill = findSkill(name);
      if (skill === undefined) throw new AppError("SKILL_NOT_FOUND", `Skill not found: ${name}`);
      const contract = describeSkill(skill);
      // Whether this machine's configuration has what every use of the skill needs (a call may need more).
      const missing = skill.missingSettings?.(ctx.config) ?? [];
      if (flags.json) return printJson(ctx.output, { ...contract, missing_settings: missing });
      ctx.output.out(`${contract.name} ${contract.version}: ${contract.description}`);
      for (const line of table([
        ["determinism", contract.determinism],
        ["side effects", contract.side_effects],
        ["configuration", missing.length === 0 ? "ready" : `missing ${missing.join(", ")}`],
        ["limits", JSON.stringify(contract.limits)],
      ])) {
        ctx.output.out(`  ${line}`);
      }
      ctx.output.out("  failure codes (from the failure catalog):");
      const failures = contract.failures.map((failure) => [failure.code, failure.category, failure.retryable ? "retryable" : "final", failure.recovery]);
      for (const line of table(failures)) ctx.output.out(`    ${line}`);
      ctx.output.out("  input schema:");
      for (const line of JSON.stringify(contract.input_schema, null, 2).split("\n")) ctx.output.out(`    ${line}`);
      ctx.output.out("  output:");
      for (const line of table(Object.entries(contract.output))) ctx.output.out(`    ${line}`);
    });
}
