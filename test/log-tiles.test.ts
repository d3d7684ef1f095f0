import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { Command } from "commander";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ApiMetrics } from "../src/api/metrics.js";
import type { buildApi } from "../src/api/server.js";
import { exportTilesCommand, exportTilesTo, openTilesDirectory, tilesFromDirectory } from "../src/cli/commands/log-tiles.js";
import type { CliContext } from "../src/cli/context.js";
import { insertCosignature, latestTenantCheckpoint } from "../src/db/queries/tenant-checkpoints.js";
import { readTreeHead } from "../src/db/queries/tenant-log.js";
import { toAppError } from "../src/errors.js";
import { silentLogger } from "../src/logger.js";
import { createApiKey } from "../src/services/api-keys.js";
import { createRun } from "../src/services/runs.js";
import { integrateTenantLog } from "../src/tenant-log/integrate.js";
import { consistencyProofFromStore, inclusionProofFromStore } from "../src/tenant-log/node-store.js";
import { sequencerDeps } from "../src/tenant-log/sequencer.js";
import { attest } from "../src/trace/attestation.js";
import { cosignCheckpoint, verifyCosignatures, witnessKeyFromSeed } from "../src/trace/cosignature.js";
import { sha256Hex } from "../src/trace/digest.js";
import { type KeyRing, loadKeyRing } from "../src/trace/key-store.js";
import { leafHashOf, verifyConsistency, verifyInclusion } from "../src/trace/merkle.js";
import { readNote, signingKeyFromSeed } from "../src/trace/signed-note.js";
import { openTenantCheckpoint, signTenantCheckpoint, tenantLogOrigin } from "../src/trace/tenant-checkpoint.js";
import { encodeTenantLogEntry } from "../src/trace/tenant-log-entry.js";
import { parseTilePath, type TileReader, tileProofSource, verifyTilesAgainstCheckpoint } from "../src/trace/tiles.js";
import { type Contract, contractCheckedApi } from "./support/contract.js";
import { describeOnBackends, type TestDatabase } from "./support/databases.js";
import { checkpointTenantLog, runnerDeps, runToEnd, testConfig } from "./support/harness.js";
import { MALFORMED_TILE_PATHS, specTiles } from "./support/spec-tiles.js";
import { asSuperuser } from "./support/tamper.js";
import { tempDir } from "./support/temp-dirs.js";

// The tenant log served and exported as C2SP tlog-tiles (docs/tiles.md). What the API serves and what the export
// writes are held to tiles this test builds from the stored entries with SHA-256 alone (support/spec-tiles.ts); the
// proofs from them to node-store.ts's and to RFC 9162's verifiers; every tile of a tenant to another tenant's key.

const PLAN = { steps: [{ step_id: "a", skill: "json_transform", params: { payload: { x: 1 }, mapping: { x: "x" } } }] };
// Checkpoints only when the test asks (and the first one, which the sequencer signs at once).
const config = testConfig({ AOS_TENANT_CHECKPOINT_EVERY: "100000", AOS_TENANT_CHECKPOINT_INTERVAL_MS: "3600000" });
const witness = witnessKeyFromSeed("witness.example", Buffer.alloc(32, 9));

describeOnBackends("the tenant log as tlog-tiles on $name", (backend) => {
  let db: TestDatabase;
  let keys: KeyRing;
  let app: ReturnType<typeof buildApi>;
  let contract: Contract;
  const tenants = { a: `tiles-a-${backend.name}`, b: `tiles-b ${backend.name}/é`, c: `tiles-c-${backend.name}` };
  const apiKeys: Record<keyof typeof tenants, string> = { a: "", b: "", c: "" };
  const exportDir = tempDir("aos-tiles-export");

  const get = (path: string, key: string) => app.inject({ method: "GET", url: `/api/v1/log/${path}`, headers: { authorization: `Bearer ${key}` } });
  const apiReader =
    (key: string): TileReader =>
    async (path) => {
      const response = await get(path, key);
      if (response.statusCode !== 200) throw new Error(`${path}: ${response.statusCode} ${response.body}`);
      return response.rawPayload;
    };

  async function storedEntries(tenantId: string, size: number): Promise<Buffer[]> {
    const { rows } = await db.pool.query<{ entry: Buffer }>("select entry from aos_tenant_log_entries where tenant_id = $1 and idx < $2 order by idx", [tenantId, size]);
    return rows.map((row) => Buffer.from(row.entry));
  }

  /** Entries for runs that were created but not run, queued as a worker queues them (attested), `count` at a time. */
  async function queueEntries(tenantId: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const run = await createRun(runnerDeps(db, config), { tenantId, goal: `bulk ${i}`, plan: PLAN });
      const entry = encodeTenantLogEntry({
        kind: "tenant_log_entry",
        format: "aos-trace-v2",
        tenant_id: tenantId,
        run_id: run.id,
        status: "succeeded",
        completed_at: new Date().toISOString(),
        tree_size: 2,
        merkle_root: sha256Hex(Buffer.from(`root ${i}`)),
        chain_head: sha256Hex(Buffer.from(`head ${i}`)),
      });
      await db.pool.query("insert into aos_tenant_log_pending (run_id, tenant_id, entry, attestation) values ($1, $2, $3, $4)", [
        run.id,
        tenantId,
        entry,
        attest(keys.attestation.current, run.id, "tenant-log", sha256Hex(entry)),
      ]);
    }
    const result = await integrateTenantLog(db, sequencerDeps(db, config, keys, silentLogger), tenantId);
    expect(result).toMatchObject({ status: "done", integrated: count });
  }

  async function signedCheckpoint(tenantId: string) {
    const stored = await latestTenantCheckpoint(db.pool, tenantId);
    const opened = openTenantCheckpoint(stored?.note ?? "", keys.verifiers, { origin: tenantLogOrigin(keys.signer.name, tenantId) });
    if (!opened.ok) throw new Error(opened.reason);
    return opened.checkpoint;
  }

  beforeAll(async () => {
    db = await backend.open();
    keys = loadKeyRing(config);
    ({ app, contract } = await contractCheckedApi({ db, config, log: silentLogger, keys, metrics: new ApiMetrics(db) }));
    for (const name of ["a", "b", "c"] as const) apiKeys[name] = (await createApiKey(db, { tenantId: tenants[name], name })).key;
    // A: a full level-0 tile and one 7 wide, a level-1 tile 1 wide; B: one tile 2 wide; C: no finished run.
    for (let i = 0; i < 3; i++) await runToEnd(db, config, { tenantId: tenants.a, goal: `run ${i}`, plan: PLAN });
    await queueEntries(tenants.a, 260);
    await checkpointTenantLog(db, config, tenants.a);
    for (let i = 0; i < 2; i++) await runToEnd(db, config, { tenantId: tenants.b, goal: `run ${i}`, plan: PLAN });
    await checkpointTenantLog(db, config, tenants.b);
    const stored = await latestTenantCheckpoint(db.pool, tenants.a);
    const body = (readNote(stored?.note ?? "") as { text: string }).text;
    await insertCosignature(db.pool, tenants.a, 263, `${witness.signer.name}+${witness.signer.keyId}`, cosignCheckpoint(body, witness.signer, 1_750_000_000));
  }, 600_000);
  afterEach(() => {
    expect(contract.violations.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it("serves the latest signed checkpoint with its cosignatures, as text/plain, cached for seconds", async () => {
    expect((await readTreeHead(db.pool, tenants.a)).treeSize).toBe(263);
    const response = await get("checkpoint", apiKeys.a);
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ "content-type": "text/plain; charset=utf-8", "cache-control": "private, max-age=5" });
    expect(openTenantCheckpoint(response.body, keys.verifiers, { origin: tenantLogOrigin(keys.signer.name, tenants.a) })).toMatchObject({ ok: true, checkpoint: { treeSize: 263 } });
    expect(verifyCosignatures(response.body, [witness.signer])).toMatchObject({ ok: true, witnesses: [expect.objectContaining({ status: "verified" })] });
  });

  it("serves every tile and bundle of the checkpoint's tree as built from the entries alone, and the export writes the same", async () => {
    const expected = specTiles(await storedEntries(tenants.a, 263));
    expect([...expected.keys()].sort()).toEqual(["tile/0/000", "tile/0/001.p/7", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/7"]);
    for (const [path, bytes] of expected) {
      const response = await get(path, apiKeys.a);
      expect([path, response.statusCode]).toEqual([path, 200]);
      expect(response.rawPayload.equals(bytes), path).toBe(true);
      const full = parseTilePath(path).ok && !path.includes(".p/");
      expect(response.headers).toMatchObject({ "content-type": "application/octet-stream", "cache-control": full ? "private, max-age=31536000, immutable" : "private, max-age=60" });
    }
    const summary = await exportTilesTo(db, config, tenants.a, exportDir);
    expect(summary).toMatchObject({ tenant_id: tenants.a, tree_size: 263, tiles: 3, entry_bundles: 2, partial: 3, earlier_tree_size: null, verified: true });
    const written = filesUnder(exportDir);
    expect([...written.keys()].sort()).toEqual(["checkpoint", ...expected.keys()].sort());
    for (const [path, bytes] of expected) expect((written.get(path) as Buffer).equals(bytes), path).toBe(true);
    expect((written.get("checkpoint") as Buffer).toString()).toBe((await get("checkpoint", apiKeys.a)).body);
  });

  it("recomputes the signed checkpoint's root from the exported directory and from the API's tiles", async () => {
    const note = readFileSync(join(exportDir, "checkpoint"), "utf8");
    const opened = openTenantCheckpoint(note, keys.verifiers, { origin: tenantLogOrigin(keys.signer.name, tenants.a) });
    if (!opened.ok) throw new Error(opened.reason);
    for (const read of [tilesFromDirectory(exportDir), apiReader(apiKeys.a)]) {
      expect((await tileProofSource(read, 263).root()).equals(opened.checkpoint.root)).toBe(true);
      expect(await verifyTilesAgainstCheckpoint(read, opened.checkpoint)).toEqual({ ok: true, treeSize: 263, tiles: 3, entryBundles: 2 });
    }
  });

  it("gives every inclusion proof node-store.ts gives, from the directory and from the API, and they verify", async () => {
    const checkpoint = await signedCheckpoint(tenants.a);
    const entries = await storedEntries(tenants.a, 263);
    const sources = [tileProofSource(tilesFromDirectory(exportDir), 263), tileProofSource(apiReader(apiKeys.a), 263)];
    for (let index = 0; index < 263; index++) {
      const stored = await inclusionProofFromStore(db.pool, tenants.a, index, 263);
      for (const source of sources) {
        const proof = await source.inclusionProof(index);
        expect(proof, `entry ${index}`).toEqual(stored);
        expect((await source.entry(index)).equals(entries[index] as Buffer)).toBe(true);
      }
      expect(verifyInclusion(leafHashOf(entries[index] as Buffer), index, 263, stored, checkpoint.root)).toBe(true);
    }
  });

  it("serves each tenant its own log only: another tenant's key gets its own tiles or 404, never another's bytes", async () => {
    const entries = { a: await storedEntries(tenants.a, 263), b: await storedEntries(tenants.b, 2), c: [] };
    expect([...specTiles(entries.b).keys()].sort()).toEqual(["tile/0/000.p/2", "tile/entries/000.p/2"]);
    // Every tile either log has, and every narrower partial tile of them.
    const paths = new Set([...specTiles(entries.a).keys(), ...specTiles(entries.b).keys(), "tile/0/000.p/2", "tile/0/000.p/3", "tile/entries/000.p/1", "tile/0/001.p/1"]);
    for (const [name, key] of Object.entries(apiKeys) as [keyof typeof tenants, string][]) {
      for (const path of paths) {
        const expected = tileOfPrefix(entries[name], path);
        const response = await get(path, key);
        if (expected === undefined) {
          expect([name, path, response.statusCode, response.json().error.code]).toEqual([name, path, 404, "TILE_NOT_FOUND"]);
        } else {
          expect([name, path, response.statusCode]).toEqual([name, path, 200]);
          expect(response.rawPayload.equals(expected), `${name} ${path}`).toBe(true);
        }
      }
    }
    const checkpointB = await get("checkpoint", apiKeys.b);
    expect(openTenantCheckpoint(checkpointB.body, keys.verifiers, { origin: tenantLogOrigin(keys.signer.name, tenants.b) })).toMatchObject({ ok: true, checkpoint: { treeSize: 2 } });
    const none = await get("checkpoint", apiKeys.c);
    expect([none.statusCode, none.json().error.code]).toEqual([404, "CHECKPOINT_NOT_FOUND"]);
  });

  it("refuses every malformed path with 400 (404 ROUTE_NOT_FOUND where no tile route has its shape), and asks for a key", async () => {
    for (const path of MALFORMED_TILE_PATHS) {
      const response = await get(path, apiKeys.a);
      // Only a path with no tile route's shape at all (`tile/0`, `tiles/…`) misses every route.
      const routed = path.startsWith("tile/") && path.split("/").length >= 3;
      const expected = routed ? [400, "VALIDATION_ERROR"] : [404, "ROUTE_NOT_FOUND"];
      expect([path, response.statusCode, response.json().error.code]).toEqual([path, ...expected]);
    }
    const anonymous = await app.inject({ method: "GET", url: "/api/v1/log/tile/0/000" });
    expect(anonymous.statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/api/v1/log/checkpoint" })).statusCode).toBe(401);
  });

  it("serves nothing past the latest signed checkpoint, though the log has integrated more; the next checkpoint serves it", async () => {
    await queueEntries(tenants.a, 30);
    expect((await readTreeHead(db.pool, tenants.a)).treeSize).toBe(293);
    const grown = specTiles(await storedEntries(tenants.a, 293));
    const signed = specTiles(await storedEntries(tenants.a, 263));
    const beyond = [...grown.keys()].filter((path) => !signed.has(path));
    expect(beyond.sort()).toEqual(["tile/0/001.p/37", "tile/entries/001.p/37"]);
    for (const path of [...beyond, "tile/0/001", "tile/entries/001", "tile/0/001.p/8", "tile/1/000.p/2", "tile/2/000.p/1", "tile/0/x001/000"]) {
      const response = await get(path, apiKeys.a);
      expect([path, response.statusCode, response.json().error.code]).toEqual([path, 404, "TILE_NOT_FOUND"]);
    }
    expect((await get("checkpoint", apiKeys.a)).body).toContain("\n263\n");
    await checkpointTenantLog(db, config, tenants.a);
    for (const [path, bytes] of grown) expect((await get(path, apiKeys.a)).rawPayload.equals(bytes), path).toBe(true);
    // The partial tile of the checkpoint before stays served: a client holding that checkpoint still reads it.
    expect((await get("tile/0/001.p/7", apiKeys.a)).rawPayload.equals(signed.get("tile/0/001.p/7") as Buffer)).toBe(true);
  });

  it("re-exports over the earlier export, and gives every consistency proof node-store.ts gives, verifying against both signed roots", async () => {
    const older = openTenantCheckpoint(readFileSync(join(exportDir, "checkpoint"), "utf8"), keys.verifiers);
    const summary = await exportTilesTo(db, config, tenants.a, exportDir);
    expect(summary).toMatchObject({ tree_size: 293, earlier_tree_size: 263 });
    // The older checkpoint's partial tiles stay, beside the new ones.
    expect([...filesUnder(exportDir).keys()].filter((path) => path.includes(".p/")).sort()).toEqual(
      ["tile/0/001.p/37", "tile/0/001.p/7", "tile/1/000.p/1", "tile/entries/001.p/37", "tile/entries/001.p/7"].sort(),
    );
    const newer = await signedCheckpoint(tenants.a);
    if (!older.ok) throw new Error(older.reason);
    const sources = [tileProofSource(tilesFromDirectory(exportDir), 293), tileProofSource(apiReader(apiKeys.a), 293)];
    for (const oldSize of [1, 2, 7, 255, 256, 257, 263, 292, 293]) {
      const stored = await consistencyProofFromStore(db.pool, tenants.a, oldSize, 293);
      for (const source of sources) expect(await source.consistencyProof(oldSize), `from ${oldSize}`).toEqual(stored);
    }
    // As an offline `aos log consistency OLD NEW --tiles DIR` does it: the directory's own checkpoint sizes the source.
    const opened = openTilesDirectory(exportDir, keys.verifiers, tenantLogOrigin(keys.signer.name, tenants.a));
    if (!opened.ok) throw new Error(opened.reason);
    expect(opened.checkpoint).toEqual(newer);
    const proof = await opened.source.consistencyProof(263);
    expect(verifyConsistency(263, 293, older.checkpoint.root, newer.root, proof)).toBe(true);
    expect((await opened.source.root(263)).equals(older.checkpoint.root)).toBe(true);
    expect(openTilesDirectory(exportDir, keys.verifiers, tenantLogOrigin(keys.signer.name, tenants.b))).toMatchObject({ ok: false, code: "WRONG_ORIGIN" });
    expect(() => openTilesDirectory(tempDir("aos-tiles-empty"), keys.verifiers)).toThrow(/holds no readable checkpoint/);
  });

  it("fails verifyTilesAgainstCheckpoint when any byte of any exported tile or bundle changes", async () => {
    const checkpoint = await signedCheckpoint(tenants.a);
    const needed = [...specTiles(await storedEntries(tenants.a, 293)).keys()];
    for (const path of needed) {
      const file = join(exportDir, ...path.split("/"));
      const original = readFileSync(file);
      for (const at of [0, original.length - 1, Math.floor(Math.random() * original.length)]) {
        const changed = Buffer.from(original);
        changed[at] = (changed[at] as number) ^ 0x80;
        writeFileSync(file, changed);
        const audit = await verifyTilesAgainstCheckpoint(tilesFromDirectory(exportDir), checkpoint);
        expect([path, at, audit.ok]).toEqual([path, at, false]);
      }
      writeFileSync(file, original);
    }
    expect((await verifyTilesAgainstCheckpoint(tilesFromDirectory(exportDir), checkpoint)).ok).toBe(true);
  });

  it("refuses to export over anything but an earlier export of the same log that the log still extends, writing nothing", async () => {
    const stranger = tempDir("aos-tiles-other");
    writeFileSync(join(stranger, "notes.txt"), "mine");
    await expect(exportTilesTo(db, config, tenants.a, stranger)).rejects.toMatchObject({ code: "USAGE", message: /not empty and holds no earlier export/ });
    const ofB = tempDir("aos-tiles-b");
    await exportTilesTo(db, config, tenants.b, ofB);
    await expect(exportTilesTo(db, config, tenants.a, ofB)).rejects.toMatchObject({ code: "VALIDATION_ERROR", message: /is not of tenant .*'s log .*origin is/ });
    // A checkpoint signed by the log's own key over another tree of the same size: evidence of a fork, kept.
    const forked = tempDir("aos-tiles-fork");
    const origin = tenantLogOrigin(keys.signer.name, tenants.a);
    const fork = signTenantCheckpoint({ origin, treeSize: 263, root: leafHashOf(Buffer.from("another history")) }, keys.signer);
    writeFileSync(join(forked, "checkpoint"), fork);
    await expect(exportTilesTo(db, config, tenants.a, forked)).rejects.toMatchObject({ code: "TRACE_TAMPERED" });
    // Signed by a key nobody trusts.
    const untrusted = signTenantCheckpoint({ origin, treeSize: 1, root: leafHashOf(Buffer.from("x")) }, signingKeyFromSeed(keys.signer.name, Buffer.alloc(32, 3)).signer);
    const forged = tempDir("aos-tiles-forged");
    writeFileSync(join(forged, "checkpoint"), untrusted);
    await expect(exportTilesTo(db, config, tenants.a, forged)).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    expect(openTilesDirectory(forged, keys.verifiers)).toMatchObject({ ok: false, code: "UNTRUSTED_KEY" });
    for (const dir of [stranger, forked, forged]) expect([...filesUnder(dir).keys()].filter((path) => path.startsWith("tile/"))).toEqual([]);
    expect(readFileSync(join(forked, "checkpoint"), "utf8")).toBe(fork);
  });

  it("lets an auditor with the tiles alone catch a database writer who changed any stored entry or leaf; the export refuses them", async () => {
    const checkpoint = await signedCheckpoint(tenants.b);
    const { rows } = await db.pool.query<{ kind: string; idx: number; value: Buffer }>(
      `select 'entry' as kind, idx::int as idx, entry as value from aos_tenant_log_entries where tenant_id = $1
union all select 'node', idx::int, hash from aos_tenant_log_nodes where tenant_id = $1 and level = 0 order by kind, idx`,
      [tenants.b],
    );
    expect(rows.map((row) => `${row.kind} ${row.idx}`)).toEqual(["entry 0", "entry 1", "node 0", "node 1"]);
    const write = (row: (typeof rows)[number], value: Buffer) =>
      row.kind === "entry"
        ? asSuperuser(db, ["update aos_tenant_log_entries set entry = $3 where tenant_id = $1 and idx = $2", [tenants.b, row.idx, value]])
        : asSuperuser(db, ["update aos_tenant_log_nodes set hash = $3 where tenant_id = $1 and level = 0 and idx = $2", [tenants.b, row.idx, value]]);
    for (const row of rows) {
      const changed = Buffer.from(row.value);
      changed[0] = (changed[0] as number) ^ 0x01;
      await write(row, changed);
      const audit = await verifyTilesAgainstCheckpoint(apiReader(apiKeys.b), checkpoint);
      expect([row.kind, row.idx, audit.ok]).toEqual([row.kind, row.idx, false]);
      const dir = tempDir("aos-tiles-tampered");
      await expect(exportTilesTo(db, config, tenants.b, dir)).rejects.toMatchObject({ code: "TILE_INVALID" });
      expect(readdirSync(dir)).not.toContain("checkpoint");
      await write(row, row.value);
    }
    expect((await verifyTilesAgainstCheckpoint(apiReader(apiKeys.b), checkpoint)).ok).toBe(true);
    // A stored leaf the checkpoint covers, deleted: the log says so instead of serving a short tile.
    await asSuperuser(db, ["delete from aos_tenant_log_nodes where tenant_id = $1 and level = 0 and idx = 1", [tenants.b]]);
    const short = await get("tile/0/000.p/2", apiKeys.b);
    expect([short.statusCode, short.json().error.code]).toEqual([409, "TRACE_TAMPERED"]);
  });

  // The verb opens the database its configuration names: a server's URL (a PGlite test database is in memory).
  if (backend.name === "server") it("runs as `aos log export-tiles --tenant-id T -o DIR --json`", async () => {
    const lines: string[] = [];
    const ctx: CliContext = {
      config: testConfig({ AOS_HOME: config.home, DATABASE_URL: db.url as string }),
      output: { out: (text) => lines.push(text), err: (text) => lines.push(text), isTty: false, color: false },
      exitCode: 0,
    };
    // Scratch wiring: main.ts attaches the verb to `aos log`; here it hangs off a program of its own.
    const aos = (args: string[]) => new Command("aos").exitOverride().addCommand(new Command("log").addCommand(exportTilesCommand(ctx))).parseAsync(["log", "export-tiles", ...args], { from: "user" });
    const dir = join(tempDir("aos-tiles-cli"), "log");
    await aos(["--tenant-id", tenants.a, "-o", dir, "--json"]);
    expect(JSON.parse(lines.join("\n"))).toMatchObject({ tenant_id: tenants.a, directory: dir, tree_size: 293, tiles: 3, entry_bundles: 2, partial: 3, verified: true });
    lines.length = 0;
    await aos(["--tenant-id", tenants.a, "-o", dir]);
    expect(lines[0]).toMatch(/^Wrote .*: .*\/tenant\/tiles-a-server at 293 entries, extending the earlier export at 293$/);
    const refused = await aos(["--tenant-id", tenants.a, "-o", join(dir, "checkpoint")]).catch(toAppError);
    expect(refused).toMatchObject({ code: "USAGE", message: /is not a directory/ });
  });
});

/**
 * The bytes a log of these entries serves at `path`, when the tree of its first entries has that tile: a tile (L, N,
 * W) is the tile of the tree of (N·256 + W)·256^L entries; undefined when the log is not that long.
 */
function tileOfPrefix(entries: readonly Buffer[], path: string): Buffer | undefined {
  const match = /^tile\/(entries|\d+)\/((?:x\d{3}\/)*\d{3})(?:\.p\/(\d+))?$/.exec(path);
  if (match === null) throw new Error(`the test asks for ${path}`);
  const level = match[1] === "entries" ? 0 : Number(match[1]);
  const size = (Number((match[2] as string).replaceAll(/[x/]/g, "")) * 256 + Number(match[3] ?? 256)) * 256 ** level;
  return size <= entries.length ? specTiles(entries.slice(0, size)).get(path) : undefined;
}

/** Every file under `dir`, by its path relative to it with `/` separators. */
function filesUnder(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(dir, path).split("\\").join("/"), readFileSync(path));
    }
  };
  walk(dir);
  return files;
}
