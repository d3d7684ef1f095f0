import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AppError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import { encodeWitnessVerifierKey, parseWitnessSignerKey } from "../trace/cosignature.js";
import type { NoteVerifier } from "../trace/signed-note.js";
import { ADD_CHECKPOINT_PATH, MAX_ADD_CHECKPOINT_BYTES } from "../trace/witness-protocol.js";
import { addCheckpoint, type WitnessAnswer, type WitnessContext } from "./add-checkpoint.js";
import { WitnessState } from "./witness-state.js";

export interface WitnessOptions {
  /** The witness's private key text (PRIVATE+KEY+<name>+<id>+base64(0x04 ‖ seed), trace/cosignature.ts). */
  signerKey: string;
  /** Where the latest cosigned checkpoint of each origin is kept (witness-state.ts); one process per directory. */
  stateDir: string;
  /** The log keys whose tenant checkpoints this witness cosigns (add-checkpoint.ts, logKeysForOrigin). */
  logKeys: readonly NoteVerifier[];
  host: string;
  /** 0: any free port. */
  port: number;
  log?: Logger;
  /** POSIX seconds; tests pass a fixed clock. */
  now?: () => number;
}

export interface RunningWitness {
  /** The submission prefix: POST `${url}/add-checkpoint`. */
  url: string;
  /** The witness's vkey (type 0x04), for the logs and verifiers that trust it. */
  verifierKey: string;
  /** Stops accepting requests, ends open connections and releases the state directory. */
  close(): Promise<void>;
}

const TEXT = "text/plain; charset=utf-8";
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Starts a witness (c2sp.org/tlog-witness) on plain node:http: POST /add-checkpoint and nothing else. Once a
 * request's body is read, it is handled to its end without awaiting (add-checkpoint.ts), which is what keeps the
 * check of the old size and the write of the new checkpoint atomic. Bodies are capped (413), and a request that is
 * slow to send its body is cut off (408), so no client holds the witness. A body left unread closes its connection.
 */
export async function startWitness(options: WitnessOptions): Promise<RunningWitness> {
  const parsedKey = parseWitnessSignerKey(options.signerKey.trim());
  if (!parsedKey.ok) throw new AppError("USAGE", `the witness key is not a witness private key: ${parsedKey.reason}`);
  if (options.logKeys.length === 0) throw new AppError("USAGE", "a witness needs at least one log key to trust");
  const log = options.log ?? silentLogger;
  const state = WitnessState.open(options.stateDir);
  const ctx: WitnessContext = {
    signer: parsedKey.key,
    logKeys: options.logKeys,
    state,
    now: options.now ?? (() => Math.floor(Date.now() / 1000)),
    log,
  };
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, (request, response) => {
    handle(request, ctx).then(
      (answer) => send(response, answer),
      (error: unknown) => {
        log.warn("add-checkpoint failed", { error: error instanceof Error ? error.message : String(error) });
        send(response, { status: 500, contentType: TEXT, body: "the witness failed to handle the request; nothing was cosigned\n" });
      },
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (error) {
    state.close();
    throw new AppError("USAGE", `the witness cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`, { cause: error });
  }
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    verifierKey: encodeWitnessVerifierKey(parsedKey.key),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      state.close();
    },
  };
}

async function handle(request: IncomingMessage, ctx: WitnessContext): Promise<WitnessAnswer> {
  const path = (request.url ?? "").split("?")[0];
  if (path !== ADD_CHECKPOINT_PATH) {
    return { status: 404, contentType: TEXT, body: `not found: this witness serves POST ${ADD_CHECKPOINT_PATH} only\n` };
  }
  if (request.method !== "POST") {
    return { status: 405, contentType: TEXT, body: `${ADD_CHECKPOINT_PATH} takes POST only\n` };
  }
  const body = await readBody(request);
  if (body === undefined) return { status: 413, contentType: TEXT, body: `the body is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes\n` };
  return addCheckpoint(body, ctx);
}

/** The body, or undefined past the cap (whose rest is then not read: the connection is closed after the answer). */
function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  if (Number(request.headers["content-length"]) > MAX_ADD_CHECKPOINT_BYTES) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ADD_CHECKPOINT_BYTES) {
        request.pause();
        resolve(undefined);
      } else {
        chunks.push(chunk);
      }
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function send(response: ServerResponse, answer: WitnessAnswer): void {
  if (response.headersSent) return;
  const body = Buffer.from(answer.body, "utf8");
  const headers: Record<string, string | number> = { "content-type": answer.contentType, "content-length": body.length };
  // A request whose body was not read in full leaves bytes on the connection that no next request may start from.
  if (!response.req.complete) headers.connection = "close";
  response.writeHead(answer.status, headers);
  response.end(body);
}
