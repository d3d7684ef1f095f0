import { createHash } from "node:crypto";
import { appendFileSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { consistencyProof } from "../src/trace/merkle.js";
import { spawnSync } from "node:child_process";
import { runPythonVerifier } from "./support/python-verifier.js";
import { forgingSigner, merkleRoot } from "./support/rehashed-bundles.js";
import { tempDir } from "./support/temp-dirs.js";

const sha256 = (bytes: Buffer): Buffer => createHash("sha256").update(bytes).digest();
const leafOf = (text: string): Buffer => sha256(Buffer.concat([Buffer.from([0]), Buffer.from(text, "utf8")]));
const TILE = 256;

/** tile/<L>/<N>[.p/<W>] with N in 3-digit groups, all but the last prefixed with x (C2SP tlog-tiles). */
function tilePath(level: number, index: number, width: number): string {
  const groups: string[] = [];
  let rest = index;
  do {
    groups.unshift(String(rest % 1000).padStart(3, "0"));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  const n = groups.map((group, at) => (at < groups.length - 1 ? `x${group}` : group)).join("/");
  return `tile/${level}/${n}${width === TILE ? "" : `.p/${width}`}`;
}

/**
 * A C2SP tlog-tiles directory of the tree of the first `size` leaves, written from the spec alone: level 0 holds the
 * leaf hashes, level L+1 the tree hash of each full tile of level L; each level's complete hashes in full tiles of
 * 256 and a partial tile of the rest (none when empty). Returns the files written, relative to `dir`.
 */
function writeTiles(dir: string, leaves: readonly Buffer[], size: number): string[] {
  const written: string[] = [];
  let hashes = leaves.slice(0, size);
  for (let level = 0; hashes.length > 0; level++) {
    for (let index = 0; index * TILE < hashes.length; index++) {
      const tile = hashes.slice(index * TILE, (index + 1) * TILE);
      const file = tilePath(level, index, tile.length);
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), Buffer.concat(tile));
      written.push(file);
    }
    const full = Math.floor(hashes.length / TILE);
    hashes = Array.from({ length: full }, (_, index) => merkleRoot(hashes.slice(index * TILE, (index + 1) * TILE)));
  }
  return written;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((file) => statSync(join(dir, file)).isFile()).map((file) => relative(dir, join(dir, file)));
}

const VERIFIER_DIR = new URL("../verifiers/python", import.meta.url).pathname;

/**
 * The verb's own check_consistency (aos_consistency.py) on many (old, new, tiles) at once, in one Python process:
 * the statuses, as the verb would print them. The command line around it is tested through the verb itself.
 */
function consistencyStatuses(vkey: string, cases: [string, string, string][]): string[] {
  const script = [
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(VERIFIER_DIR)})`,
    "from aos_consistency import check_consistency",
    "from aos_notes import parse_vkey",
    "from aos_records import Verdict",
    "request = json.load(sys.stdin)",
    "keys = [parse_vkey(request['key'])]",
    "def status(old, new, tiles):",
    "    try:",
    "        return check_consistency(open(old).read(), open(new).read(), keys, tiles)[0]",
    "    except Verdict as v:",
    "        return v.status",
    "print(json.dumps([status(*case) for case in request['cases']]))",
  ].join("\n");
  const run = spawnSync("python3", ["-c", script], { input: JSON.stringify({ key: vkey, cases }), encoding: "utf8" });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as string[];
}

interface Outcome {
  code: number | null;
  status: string;
  consistent: boolean;
  proof: string[];
  reason: string | null;
}

/**
 * `aos_verify.py consistency OLD NEW --key --tiles` (verifiers/python/aos_consistency.py) against tenant checkpoints
 * signed by a key made with node:crypto and tiles written by this file's own writer: consistent pairs across tile
 * boundaries (its proof equal to AOS's own consistencyProof), forks and rewritten histories refused, damaged or
 * missing tiles never taken for evidence either way.
 */
describe("the Python verifier's consistency verb over C2SP tiles", () => {
  const signer = forgingSigner("aos.local");
  const origin = `aos.local/tenant/${encodeURIComponent("acme corp/é")}`;
  const dir = tempDir("aos-python-consistency");
  const MAX = 70_000;
  const leaves = Array.from({ length: MAX }, (_, i) => leafOf(`entry ${i}`));
  // Another history: entry 100 differs, so every tree from 101 entries on has another root.
  const forked = leaves.map((leaf, i) => (i === 100 ? leafOf("entry 100, rewritten") : leaf));
  let files = 0;
  const roots = new Map<string, Buffer>();
  const rootOf = (of: readonly Buffer[], size: number) => {
    const key = `${of === leaves ? "h" : "f"}${size}`;
    if (!roots.has(key)) roots.set(key, size === 0 ? sha256(Buffer.alloc(0)) : merkleRoot(of.slice(0, size)));
    return roots.get(key) as Buffer;
  };
  const checkpoint = (size: number, of: readonly Buffer[] = leaves, options: { origin?: string; by?: typeof signer; extra?: string } = {}) => {
    const file = join(dir, `checkpoint-${files++}`);
    writeFileSync(file, (options.by ?? signer).sign(`${options.origin ?? origin}\n${size}\n${rootOf(of, size).toString("base64")}\n${options.extra ?? ""}`));
    return file;
  };
  const tiles = (size: number, of: readonly Buffer[] = leaves) => {
    const at = join(dir, `tiles-${of === leaves ? "h" : "f"}-${size}`);
    writeTiles(at, of, size);
    return at;
  };
  async function consistency(old: string, next: string, tilesDir: string, key = signer.vkey): Promise<Outcome> {
    const run = await runPythonVerifier(["consistency", old, next, "--key", key, "--tiles", tilesDir, "--json"], true);
    const out = JSON.parse(run.stdout) as Omit<Outcome, "code">;
    return { code: run.code, ...out };
  }
  let big: string;
  beforeAll(() => {
    big = tiles(MAX);
  });

  it("writes tiles as tlog-tiles' own examples describe them", () => {
    const levelCounts = (files: string[]) => files.map((file) => `${file.split("/")[1]}${file.includes(".p/") ? `.p/${file.split(".p/")[1]}` : ""}`).reduce<Record<string, number>>((counts, key) => ({ ...counts, [key]: (counts[key] ?? 0) + 1 }), {});
    // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of width 112,
    // one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile of width 1."
    expect(levelCounts(filesUnder(big))).toEqual({ "0": 273, "0.p/112": 1, "1": 1, "1.p/17": 1, "2.p/1": 1 });
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    expect(writeTiles(join(dir, "tiles-256-example"), leaves, 256)).toEqual(["tile/0/000", "tile/1/000.p/1"]);
    expect(tilePath(0, 1234067, 256)).toBe("tile/0/x001/x234/067");
  });

  it("proves consistency across tile boundaries, from a directory for the new size and from a larger tree's, with AOS's own proof", { timeout: 180_000 }, async () => {
    const pairs: [number, number][] = [
      [0, 5], [1, 1], [1, 2], [2, 3], [3, 7], [4, 8], [5, 8], [7, 300], [255, 256], [256, 257], [256, 512], [257, 70_000],
      [1000, 65_536], [1024, 3000], [65_535, 65_537], [65_536, 70_000], [69_999, 70_000], [70_000, 70_000], [1, 70_000],
    ];
    for (const [m, n] of pairs) {
      const [old, next] = [checkpoint(m), checkpoint(n)];
      const expected = m === 0 || m === n ? [] : consistencyProof(leaves.slice(0, n), m).map((hash) => hash.toString("hex"));
      for (const tilesDir of [tiles(n), big]) {
        const outcome = await consistency(old, next, tilesDir);
        expect([m, n, outcome.status, outcome.code, outcome.proof]).toEqual([m, n, "CONSISTENT", 0, expected]);
      }
    }
    // A partial tile that is gone is read from a wider one (the tiles of a later tree).
    const wider = tiles(400);
    expect(filesUnder(wider)).toContain("tile/0/001.p/144");
    expect((await consistency(checkpoint(7), checkpoint(300), wider)).status).toBe("CONSISTENT");
    const human = await runPythonVerifier(["consistency", checkpoint(300), checkpoint(MAX), "--key", signer.vkey, "--tiles", big]);
    expect(human.stdout).toBe(`${origin}: CONSISTENT, 300 \u2192 70000 entries\n`);
  });

  it("refuses forks, rewritten histories and checkpoints it cannot trust, as its verdicts say", { timeout: 120_000 }, async () => {
    const other = forgingSigner("aos.local");
    const honestTiles = big;
    const forkedTiles = tiles(MAX, forked);
    const note = readFileSync(checkpoint(300), "utf8");
    const [signatureLine] = note.split("\n").slice(-2);
    const badSignature = join(dir, "bad-signature");
    writeFileSync(badSignature, note.replace(signatureLine as string, `${(signatureLine as string).slice(0, -6)}AAAAA=`));
    const cases: [string, string, string, string, string][] = [
      ["a fork the log signed earlier (old), the honest log now", checkpoint(300, forked), checkpoint(MAX), honestTiles, "NOT_CONSISTENT"],
      ["a fork at a power-of-two size", checkpoint(1024, forked), checkpoint(MAX), honestTiles, "NOT_CONSISTENT"],
      ["history rewritten: the new checkpoint and its tiles over another entry 100", checkpoint(300), checkpoint(MAX, forked), forkedTiles, "NOT_CONSISTENT"],
      ["history rewritten, at a power-of-two old size", checkpoint(512), checkpoint(MAX, forked), forkedTiles, "NOT_CONSISTENT"],
      ["the same size with another root", checkpoint(300, forked), checkpoint(300), honestTiles, "NOT_CONSISTENT"],
      ["a new checkpoint smaller than the old", checkpoint(500), checkpoint(300), honestTiles, "NOT_CONSISTENT"],
      ["another tenant's log", checkpoint(300, leaves, { origin: "aos.local/tenant/other" }), checkpoint(MAX), honestTiles, "NOT_CONSISTENT"],
      ["the empty tree", checkpoint(0), checkpoint(MAX), honestTiles, "CONSISTENT"],
      ["an old checkpoint signed by a key of the same name that is not trusted", checkpoint(300, leaves, { by: other }), checkpoint(MAX), honestTiles, "UNTRUSTED_KEY"],
      ["an origin of another log's key name", checkpoint(300, leaves, { origin: "other.example/tenant/acme" }), checkpoint(MAX), honestTiles, "UNTRUSTED_KEY"],
      ["an origin whose tenant is not percent-encoded", checkpoint(300, leaves, { origin: "aos.local/tenant/acme corp" }), checkpoint(MAX), honestTiles, "TAMPERED"],
      ["an old checkpoint whose signature does not verify", badSignature, checkpoint(MAX), honestTiles, "TAMPERED"],
      ["a checkpoint with an extension line", checkpoint(300, leaves, { extra: "ext\n" }), checkpoint(MAX), honestTiles, "TAMPERED"],
      ["honest checkpoints, tiles of another history", checkpoint(300), checkpoint(MAX), forkedTiles, "UNVERIFIABLE"],
      ["honest checkpoints, no tiles", checkpoint(300), checkpoint(MAX), join(dir, "no-tiles"), "UNVERIFIABLE"],
    ];
    for (const [what, old, next, tilesDir, status] of cases) {
      const outcome = await consistency(old, next, tilesDir);
      expect([what, outcome.status, outcome.code, outcome.consistent]).toEqual([what, status, status === "CONSISTENT" ? 0 : 1, status === "CONSISTENT"]);
    }
  });

  it("never takes a damaged tile for evidence: every tile file changed, cut or grown, for an honest log and for a fork", { timeout: 300_000 }, async () => {
    const size = 3000;
    const pairs: [string, string, string, string][] = [
      ["honest", checkpoint(1000), checkpoint(size), "CONSISTENT"],
      ["forked old", checkpoint(1000, forked), checkpoint(size), "NOT_CONSISTENT"],
      ["forked old at 1024", checkpoint(1024, forked), checkpoint(size), "NOT_CONSISTENT"],
    ];
    const base = join(dir, "damage-base");
    const tileFiles = writeTiles(base, leaves, size);
    const changes: [string, (file: string) => void][] = [
      ["every hash's first byte flipped", (file) => writeFileSync(file, Buffer.from(readFileSync(file).map((byte, at) => (at % 32 === 0 ? byte ^ 1 : byte))))],
      ["cut by a byte", (file) => truncateSync(file, statSync(file).size - 1)],
      ["grown by a byte", (file) => appendFileSync(file, Buffer.from([0]))],
    ];
    const runs: { what: string; undamaged: string; args: [string, string, string] }[] = [];
    for (const tileFile of tileFiles) {
      for (const [how, change] of changes) {
        const damaged = join(dir, `damaged-${runs.length}`);
        cpSync(base, damaged, { recursive: true });
        change(join(damaged, tileFile));
        for (const [what, old, next, undamaged] of pairs) runs.push({ what: `${tileFile} ${how}, ${what}`, undamaged, args: [old, next, damaged] });
      }
    }
    const statuses = consistencyStatuses(signer.vkey, runs.map(({ args }) => args));
    expect(runs.filter(({ undamaged }, index) => ![undamaged, "UNVERIFIABLE"].includes(statuses[index] as string)).map(({ what }) => what)).toEqual([]);
    // The proofs read tiles at both levels: the damage was seen, not just survived.
    expect(statuses.filter((status) => status === "UNVERIFIABLE").length).toBeGreaterThan(pairs.length * 3);
    // And the verb, run as a command, says the same as the function on a sample.
    for (const index of [0, Math.floor(runs.length / 2), runs.length - 1]) {
      const [old, next, tilesDir] = runs[index]!.args;
      expect((await consistency(old, next, tilesDir)).status).toBe(statuses[index]);
    }
  });

  it("exits 2 for usage errors: no key, a malformed key, an unreadable checkpoint, no tiles directory", async () => {
    const [old, next] = [checkpoint(3), checkpoint(7)];
    const small = tiles(7);
    for (const args of [
      ["consistency", old, next, "--tiles", small],
      ["consistency", old, next, "--key", "aos.local+00000000+AAAA", "--tiles", small],
      ["consistency", join(dir, "missing"), next, "--key", signer.vkey, "--tiles", small],
      ["consistency", old, next, "--key", signer.vkey],
    ]) {
      expect((await runPythonVerifier(args, true)).code).toBe(2);
    }
  });
});
