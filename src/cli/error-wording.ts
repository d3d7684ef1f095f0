import type { AppError } from "../errors.js";
import { FAILURE_CATALOG, type FailureCode } from "../failure-catalog.js";

// How the CLI words an error. Services and the failure catalog speak to every caller, so they name the API's fields
// (`tenant_id`, `by`) and no command's flags; a person at the terminal reads the CLI's own flags and commands instead.

/** The CLI's flag for each request field a service names in a message and in `details.field`. */
export const FLAG_FOR_FIELD: Readonly<Record<string, string>> = {
  tenant_id: "--tenant-id",
  agent_id: "--agent-id",
  actor_id: "--actor-id",
  goal: "--goal",
  origin_system_id: "--origin-system-id",
  name: "--name",
  budget_cents: "--budget-cents",
  concurrent_runs_limit: "--concurrent-runs-limit",
  allowed_hosts: "--allow-host",
  remove_allowed_hosts: "--remove-host",
  by: "--by",
  limit: "--limit",
  older_than: "--older-than",
};

/**
 * The hints that name a command with its flags, where the catalog's suggestion, which HTTP callers read too, names
 * none. Every other code's hint is its catalog suggestion.
 */
const CLI_HINTS: Partial<Record<FailureCode, string>> = {
  TENANT_REQUIRED: "Pass --tenant-id.",
  AGENT_NOT_FOUND: "List the tenant's agents, with their ids and names, with `aos list-agents --tenant-id T`.",
  AGENT_NAME_TAKEN: "Choose another --name, or change the existing agent with `aos update-agent NAME --tenant-id T`.",
  TENANT_NOT_FOUND: "Check --tenant-id's spelling; `aos run`, `aos create-agent`, `aos api-keys create` and `aos policy set` create a tenant on first use.",
  RUN_NOT_FOUND: "List the tenant's runs with `aos list-runs --tenant-id T`.",
  SKILL_NOT_FOUND: "List the registered skills with `aos list-skills`.",
  PLAN_INVALID: "Fix the plan's steps; `aos skill <name>` shows each skill's parameters.",
  POLICY_VIOLATION: "Show the policy with `aos policy show --tenant-id T [--agent-id A]`; change it with `aos policy set`.",
  ENFORCEMENT_SKIPPED: "The policy engine failed, so the step was denied (fail closed); re-run with -v and report it.",
  APPROVAL_REQUIRED: "Approve it with `aos approve <run_id> --tenant-id T --by NAME`, or reject it with `aos reject`.",
  RUN_ALREADY_ENDED: "See how it ended with `aos get-run <run_id> --tenant-id T`.",
  RUN_NOT_PENDING_APPROVAL: "Only a run waiting for approval can be approved or rejected; `aos list-runs --tenant-id T --status pending_approval` lists them.",
  SKILL_ERROR: "Read the step's error details in `aos get-run`.",
  INTERNAL: "Re-run with -v and report the stack trace.",
  UNAUTHENTICATED: "Send an API key as `Authorization: Bearer <key>` (or X-AOS-Key); create one with `aos api-keys create --tenant-id T --name NAME`.",
  API_KEY_NOT_FOUND: "List the tenant's API keys with `aos api-keys list --tenant-id T`.",
  STEP_NOT_FOUND: "A run's leaves are seq 0 to its step count (the last is its run-end); `aos get-run` lists its steps.",
};

/**
 * The error's message with the field its `details.field` names written as the CLI's flag, in its place (services
 * name a field once, as a word), or before the message when the message does not name it.
 */
export function cliMessage(error: AppError): string {
  const field = error.details?.field;
  if (typeof field !== "string" || !Object.hasOwn(FLAG_FOR_FIELD, field)) return error.message;
  const flag = FLAG_FOR_FIELD[field] as string;
  const named = new RegExp(`(?<![\\w-])${field}(?![\\w-])`, "g");
  return named.test(error.message) ? error.message.replace(named, flag) : `${flag}: ${error.message}`;
}

/**
 * What to do about an error, never empty: the CLI's own hint, else the catalog's suggestion; a bad flag value
 * (USAGE, or VALIDATION_ERROR, whose messages say what to change) points at the verb's --help when the verb is
 * known (errors in the environment come before any verb, and get the catalog's suggestion).
 */
export function cliHint(code: FailureCode, verb?: string): string {
  if ((code === "USAGE" || code === "VALIDATION_ERROR") && verb !== undefined) return `Run \`aos ${verb} --help\` for its flags and their values.`;
  return CLI_HINTS[code] || FAILURE_CATALOG[code].suggestion || "Correct the input the message names.";
}
