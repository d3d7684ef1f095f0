import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempHome } from "./support/cli.js";
import { tempDir } from "./support/temp-dirs.js";

// The README's shell examples, read from README.md and run in order, word for word, on one fresh AOS_HOME: the
// set-up run, the proof walk (its edit of the bundle included), the tenant log, "Using it" (the example policy, the
// calendar example) and the SDK walk under that policy. `npx aos` runs the built CLI through an `aos` on PATH (what
// `npx` resolves to in the clone). A line's trailing comment is its expectation: `exit N` (else 0) and the verdict
// words it names. Only what cannot run here is set aside, each for a reason below; `aos dev` and `aos serve` run in the
// background on a free port and the SDK walk is pointed at it with the key `api-keys create` printed.

const ROOT = new URL("..", import.meta.url).pathname;
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const VERDICTS = ["VERIFIED", "TAMPERED", "CONSISTENT", "CLEAN"];

/** Lines that cannot run in a test, and why. */
const SET_ASIDE: [RegExp, string][] = [
  [/--goal "Fetch https:\/\//, "needs the internet"],
  [/\$WITNESS_VKEY/, "needs a witness process (test/witness-processes.test.ts runs one)"],
];

interface Line {
  heading: string;
  command: string;
  comment: string;
}

/** Every command line of the README's ```sh blocks, in order, with its trailing comment. */
function readmeLines(): Line[] {
  const lines: Line[] = [];
  let heading = "";
  let inShell = false;
  for (const text of README.split("\n")) {
    if (text.startsWith("## ")) heading = text.slice(3);
    if (text.startsWith("```")) {
      inShell = text === "```sh";
      continue;
    }
    const trimmed = text.trim();
    if (!inShell || trimmed === "" || trimmed.startsWith("#")) continue;
    const comment = / {2,}# (.*)$/.exec(trimmed);
    lines.push({ heading, command: comment === null ? trimmed : trimmed.slice(0, comment.index).trim(), comment: comment?.[1] ?? "" });
  }
  return lines;
}

/** `npm ci && npm run build && npx aos …`: the package is built already, so only the `aos` part runs. */
function withoutNpm(command: string): string {
  return command
    .split(" && ")
    .filter((part) => !part.startsWith("npm "))
    .join(" && ")
    .replaceAll("npx aos ", "aos ");
}

function expectedExit(comment: string): number {
  return Number(/\bexit (\d+)/.exec(comment)?.[1] ?? 0);
}

const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null) continue;
    child.kill("SIGTERM");
    await once(child, "exit");
  }
});

describe("the README's examples, run as written", () => {
  it("work together on one fresh AOS_HOME, each line's exit code and verdict as its comment says", { timeout: 900_000 }, async () => {
    const cwd = tempDir("aos-readme");
    symlinkSync(join(ROOT, "examples"), join(cwd, "examples"));
    const bin = tempDir("aos-readme-bin");
    writeFileSync(join(bin, "aos"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "bin/aos.js")}" "$@"\n`);
    chmodSync(join(bin, "aos"), 0o755);
    const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH}`, HOME: cwd, AOS_HOME: tempHome(), NO_COLOR: "1" };
    const ran: string[] = [];
    let apiKey = "";
    let serverUrl = "";

    for (const line of readmeLines()) {
      const command = withoutNpm(line.command);
      if (command === "" || SET_ASIDE.some(([pattern]) => pattern.test(command))) continue;
      const exported = /^export (\w+)=(\S+)$/.exec(command);
      if (exported !== null) {
        env[exported[1] as string] = exported[2] as string;
        continue;
      }
      // `aos dev` stays up for the rest of the walk, so every later command runs beside it, through it.
      if (/^aos (serve|dev)\b/.test(command)) {
        const url = await serve(command, env, cwd);
        if (command.startsWith("aos serve")) serverUrl = url;
        ran.push(command);
        continue;
      }
      const script = command.replace("AOS_URL=http://127.0.0.1:8000", `AOS_URL=${serverUrl}`).replace("AOS_API_KEY=aos_…", `AOS_API_KEY=${apiKey}`);
      const assigned = /^(\w+)=\$\((.*)\)$/.exec(script);
      const result = spawnSync("sh", ["-c", assigned === null ? script : `printf %s "$(${assigned[2]})"`], { cwd, env, encoding: "utf8" });
      const output = `${result.stdout}${result.stderr}`;
      expect([line.heading, command, result.status, output]).toEqual([line.heading, command, expectedExit(line.comment), expect.any(String)]);
      for (const verdict of VERDICTS.filter((word) => line.comment.includes(word))) expect([command, output]).toEqual([command, expect.stringContaining(verdict)]);
      if (assigned !== null) env[assigned[1] as string] = result.stdout;
      if (/^aos api-keys create\b/.test(command)) apiKey = /\baos_\S+/.exec(result.stdout)?.[0] ?? "";
      ran.push(command);
      if (/sdk-walk/.test(command)) {
        expect(output).toMatch(/step note llm_invoke succeeded/);
        expect(output).toContain("proof bundle: VERIFIED");
      }
    }

    // Every walk ran: a README edit that drops or breaks one fails here rather than going unrun.
    for (const needed of [/^aos dev\b/, /^aos run .*summarise/, /^aos verify-step /, /^aos audit /, /^aos policy set .*examples\/policy\.json/, /^aos calendar .*--ics/, /sdk-walk\.mjs/]) {
      expect([needed.source, ran.some((command) => needed.test(command))]).toEqual([needed.source, true]);
    }
    expect(readFileSync(join(cwd, "deliveries.ics"), "utf8")).toMatch(/^BEGIN:VCALENDAR\r\n[\s\S]*SUMMARY:Demo order A-1001: delivery\r\n/);
  });
});

/** Starts the README's `aos serve` or `aos dev` in the background on a free port and returns its URL once it listens. */
async function serve(command: string, env: Record<string, string>, cwd: string): Promise<string> {
  const words = command.split(/\s+/).slice(1);
  const args = words.includes("--port") ? words.map((arg, index, all) => (all[index - 1] === "--port" ? "0" : arg)) : [...words, "--port", "0"];
  const child = spawn("aos", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  const listening = new Promise<string>((resolve, reject) => {
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /(?:listening on|API) +(http:\/\/[\d.]+:\d+)/.exec(output)?.[1];
      if (url !== undefined) resolve(url);
    };
    child.stdout?.on("data", look);
    child.stderr?.on("data", look);
    child.on("exit", () => reject(new Error(`${command} exited: ${output}`)));
  });
  return listening;
}
