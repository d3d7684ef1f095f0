import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

const CLIENT = new URL("./shared-db-client.mjs", import.meta.url).pathname;

/** A shared-db-client.mjs child: its events as they come, commands to it, its exit. */
export interface DbClientProcess {
  readonly child: ChildProcess;
  /** Resolves with the first event named `name` (now or later); rejects if the process exits first. */
  event(name: string): Promise<Record<string, unknown>>;
  send(command: string): void;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

export function startDbClient(home: string, args: string[]): DbClientProcess {
  const child = spawn(process.execPath, [CLIENT, home, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  const events: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    events.push(JSON.parse(line) as Record<string, unknown>);
    for (const listener of listeners) listener();
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      exitCode = code;
      for (const listener of listeners) listener();
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    stderr: () => stderr,
    send: (command) => child.stdin?.write(`${command}\n`),
    event: (name) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((event) => event.event === name);
          if (found !== undefined) {
            listeners.delete(check);
            resolve(found);
          } else if (exitCode !== undefined) {
            listeners.delete(check);
            reject(new Error(`client exited (${exitCode}) before "${name}": ${stderr}`));
          }
        };
        listeners.add(check);
        check();
      }),
  };
}
