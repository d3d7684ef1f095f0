import type { Command } from "commander";
import { checkInput, checkLength, MAX_ID_CHARS } from "../input-text.js";

/**
 * What every CLI verb checks before it runs, as the API checks every request (src/input-text.ts): no argument or
 * flag value holds a NUL or an unpaired surrogate, and ids (`--*-id` flags, `<*_id>` arguments) are at most
 * MAX_ID_CHARS long. A problem is a usage error (exit 2) naming the flag or argument; nothing is opened or written.
 */
export function checkArguments(command: Command): void {
  for (const option of command.options) {
    const key = option.attributeName();
    const value = command.getOptionValue(key);
    if (typeof value !== "string") continue;
    const flag = option.long ?? option.flags;
    checkInput(value, flag, "USAGE");
    if (flag.endsWith("-id")) checkLength(value, MAX_ID_CHARS, flag, "USAGE");
  }
  command.registeredArguments.forEach((argument, index) => {
    const value: unknown = command.args[index];
    if (typeof value !== "string") return;
    const name = `<${argument.name()}>`;
    checkInput(value, name, "USAGE");
    if (argument.name().endsWith("_id")) checkLength(value, MAX_ID_CHARS, name, "USAGE");
  });
}
