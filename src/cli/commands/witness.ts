import { readFileSync, statSync, writeFileSync } from "node:fs";
import { Command } from "commander";
import { AppError } from "../../errors.js";
import { createLogger } from "../../logger.js";
import { generateWitnessKey, parseWitnessSignerKey } from "../../trace/cosignature.js";
import { isValidKeyName, type NoteVerifier, parseVerifierKey } from "../../trace/signed-note.js";
import { startWitness } from "../../witness/server.js";
import { type CliContext, type CommonFlags, parseWholeNumber } from "../context.js";
import { printJson } from "../output.js";

interface KeygenFlags extends CommonFlags {
  name: string;
  output: string;
}

interface ServeFlags extends CommonFlags {
  key: string;
  state: string;
  logKey: string[];
  host: string;
  port: string;
  quiet?: boolean;
}

/** `aos witness`: a witness that cosigns tenant log checkpoints (docs/witness.md). */
export function witnessCommand(ctx: CliContext): Command {
  return new Command("witness")
    .description("run a witness that cosigns the tenant log's checkpoints (c2sp.org/tlog-witness; docs/witness.md)")
    .addCommand(keygenCommand(ctx).exitOverride())
    .addCommand(serveCommand(ctx).exitOverride());
}

function keygenCommand(ctx: CliContext): Command {
  return new Command("keygen")
    .description("make a witness key (Ed25519, cosignature/v1): the private key goes to a new file, the verifier key is printed")
    .requiredOption("--name <name>", "the witness's name, a schema-less URL such as witness.example.com/w1")
    .requiredOption("-o, --output <file>", "where to write the private key (mode 0600; an existing file is never overwritten)")
    .option("--json", "print the keys' names and the verifier key as JSON")
    .option("-v, --verbose", "show stack traces on errors")
    .action((flags: KeygenFlags) => {
      if (!isValidKeyName(flags.name)) {
        throw new AppError("USAGE", `--name "${flags.name}" is not a key name: it must be non-empty, with no spaces, "+" or control characters`);
      }
      const pair = generateWitnessKey(flags.name);
      try {
        writeFileSync(flags.output, `${pair.signerKey}\n`, { mode: 0o600, flag: "wx" });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw new AppError("USAGE", `${flags.output} exists; a witness key is never overwritten: move it away or pass another -o`);
        throw new AppError("USAGE", `cannot write ${flags.output} (${code ?? (error as Error).message}): check that its directory exists and is writable`);
      }
      if (flags.json) {
        return printJson(ctx.output, { name: flags.name, key_id: pair.verifier.keyId, verifier_key: pair.verifierKey, key_file: flags.output });
      }
      ctx.output.out(`Wrote the witness private key to ${flags.output}; its verifier key (give it to the logs and verifiers that trust this witness):`);
      ctx.output.out(pair.verifierKey);
    });
}

function serveCommand(ctx: CliContext): Command {
  return new Command("serve")
    .description("serve POST /add-checkpoint, cosigning checkpoints that extend what this witness cosigned before")
    .requiredOption("--key <file>", "the witness private key file, from `aos witness keygen`")
    .requiredOption("--state <dir>", "where the latest cosigned checkpoint of each origin is kept; one witness per directory")
    .requiredOption(
      "--log-key <vkey>",
      "a log's verifier key (C2SP vkey, as `aos keys` prints AOS's): its checkpoints of origins <key name>/tenant/<tenant> are cosigned (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--host <address>", "the address to listen on", "127.0.0.1")
    .requiredOption("-p, --port <n>", "the port (0: any free port)")
    .option("-q, --quiet", "no log lines on stderr")
    .option("--json", "print the URL and verifier key as JSON once listening")
    .option("-v, --verbose", "show stack traces on errors")
    .action(async (flags: ServeFlags) => {
      const port = parseWholeNumber("--port", flags.port) as number;
      if (port > 65_535) throw new AppError("USAGE", `--port must be at most 65535, got ${port}`);
      if (flags.logKey.length === 0) throw new AppError("USAGE", "give at least one --log-key: a witness cosigns only the checkpoints of logs it trusts");
      const signerKey = readKeyFile(ctx, flags.key);
      const logKeys = flags.logKey.map(parseLogKey);
      const log = createLogger(flags.quiet !== true, { component: "witness" });
      const witness = await startWitness({ signerKey, stateDir: flags.state, logKeys, host: flags.host, port, log });
      if (flags.json) printJson(ctx.output, { url: witness.url, verifier_key: witness.verifierKey });
      else ctx.output.out(`AOS witness listening on ${witness.url}\nverifier key: ${witness.verifierKey}`);
      const signal = await new Promise<string>((resolve) => {
        process.once("SIGTERM", () => resolve("SIGTERM"));
        process.once("SIGINT", () => resolve("SIGINT"));
      });
      ctx.output.err(`${signal}: stopping the witness; its state is on disk`);
      await witness.close();
    });
}

function readKeyFile(ctx: CliContext, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new AppError("USAGE", `cannot read --key ${path} (${code}): make a key with \`aos witness keygen --name NAME -o FILE\``);
  }
  const parsed = parseWitnessSignerKey(text.trim());
  if (!parsed.ok) {
    throw new AppError("USAGE", `--key ${path} is not a witness private key (${parsed.reason}): make one with \`aos witness keygen --name NAME -o FILE\``);
  }
  if ((statSync(path).mode & 0o077) !== 0) ctx.output.err(`warning: ${path} can be read by other users; chmod 600 it`);
  return text.trim();
}

function parseLogKey(vkey: string): NoteVerifier {
  const parsed = parseVerifierKey(vkey.trim());
  if (!parsed.ok) throw new AppError("USAGE", `--log-key "${vkey}" is not a log verifier key (${parsed.reason}): give the log's C2SP verifier key, as \`aos keys\` prints AOS's`);
  return parsed.key;
}
