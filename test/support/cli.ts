import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./temp-dirs.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const BIN = new URL("../../bin/aos.js", import.meta.url).pathname;

/** A running `aos` child the test can signal: its output so far, and its exit code once it ends. */
export interface CliChild {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/** Starts the built `aos` CLI as a child process, the way a user starts it (no colour, only the given environment). */
export function spawnCli(args: string[], env: Record<string, string | undefined>): CliChild {
  return spawnProgram(process.execPath, [BIN, ...args], env);
}

/**
 * Starts any program with PATH, HOME, NO_COLOR=1 and the given environment only (a variable set to undefined is left
 * out), in `cwd` if given: the parent's npm_config_* and AOS_* variables never leak into the child.
 */
export function spawnProgram(command: string, args: string[], env: Record<string, string | undefined>, cwd?: string): CliChild {
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: "1" };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) childEnv[key] = value;
  const child = spawn(command, args, { env: childEnv, cwd, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout?.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  return { child, output, exited };
}

/** Runs the built `aos` CLI to its end, the way a user runs it. */
export async function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return settled(spawnCli(args, env));
}

/** Runs any program to its end, as `spawnProgram` starts it. */
export async function runProgram(command: string, args: string[], env: Record<string, string | undefined>, cwd?: string): Promise<CliResult> {
  return settled(spawnProgram(command, args, env, cwd));
}

async function settled({ output, exited }: CliChild): Promise<CliResult> {
  const code = await exited;
  return { code, ...output };
}

/** An empty AOS_HOME for a CLI child, removed after the test file. */
export function tempHome(): string {
  return tempDir("aos-cli");
}

export function writePlan(dir: string, plan: unknown, name = "plan.json"): string {
  const path = join(dir, name);
  writeFileSync(path, typeof plan === "string" ? plan : JSON.stringify(plan));
  return path;
}

const FAKE_CLOCK = new URL("./fake-clock.mjs", import.meta.url).pathname;

/** Environment that runs a CLI child as if it were `days` ago: the runs it records carry those times (fake-clock.mjs). */
export function daysAgo(days: number): Record<string, string> {
  return { NODE_OPTIONS: `--import ${FAKE_CLOCK}`, FAKE_CLOCK_OFFSET_MS: String(-days * 86_400_000) };
}
