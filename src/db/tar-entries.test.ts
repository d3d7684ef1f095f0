import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readTarEntries } from "./tar-entries.js";

const scratch = mkdtempSync(join(tmpdir(), "aos-tar-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What GNU tar writes in the ustar format for a small tree: an implementation independent of ours. */
function gnuTar(files: Record<string, string>, dirs: string[]): Uint8Array {
  const root = mkdtempSync(join(scratch, "tree-"));
  for (const dir of dirs) mkdirSync(join(root, dir), { recursive: true });
  for (const [path, content] of Object.entries(files)) writeFileSync(join(root, path), content);
  const archive = join(scratch, `${Math.random().toString(36).slice(2)}.tar`);
  execFileSync("tar", ["--format=ustar", "--no-recursion", "-cf", archive, "-C", root, ...dirs, ...Object.keys(files)]);
  return new Uint8Array(readFileSync(archive));
}

describe("readTarEntries", () => {
  it("reads every file and directory GNU tar wrote, with their bytes", () => {
    const files = { "PG_VERSION": "18\n", "base/5/1259": "x".repeat(8192), "global/pg_control": "\u0000\u0001binary", "empty": "" };
    const dirs = ["base", "base/5", "global", "pg_notify"];
    const entries = readTarEntries(gnuTar(files, dirs));
    const read = Object.fromEntries(entries.filter((e) => e.type === "file").map((e) => [e.path, Buffer.from(e.data).toString()]));
    expect(read).toEqual(files);
    expect(entries.filter((e) => e.type === "directory").map((e) => e.path).sort()).toEqual(expect.arrayContaining(dirs));
  });

  it("refuses a header whose checksum does not match", () => {
    const archive = gnuTar({ a: "1", b: "2" }, []);
    archive[512 * 2] = (archive[512 * 2] as number) ^ 0x01; // the second entry's name
    expect(() => readTarEntries(archive)).toThrow("checksum mismatch");
  });

  it("refuses a path that climbs out of the archive, a link, and data past the end", () => {
    const archive = gnuTar({ abc: "1" }, []);
    const rewrite = (edit: (header: Uint8Array) => void): Uint8Array => {
      const copy = new Uint8Array(archive);
      const header = copy.subarray(0, 512);
      edit(header);
      header.fill(0x20, 148, 156);
      const sum = header.reduce((total, byte) => total + byte, 0);
      header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
      return copy;
    };
    expect(() => readTarEntries(rewrite((h) => h.set(new TextEncoder().encode("../x"), 0)))).toThrow("not a path inside");
    expect(() => readTarEntries(rewrite((h) => (h[156] = "2".charCodeAt(0))))).toThrow("neither a file nor a directory");
    expect(() => readTarEntries(rewrite((h) => h.set(new TextEncoder().encode("77777777777"), 124)))).toThrow("past the end");
  });

  it("refuses an archive cut short before its end blocks", () => {
    const archive = gnuTar({ a: "1" }, []);
    expect(() => readTarEntries(archive.subarray(0, 1024))).toThrow("without its end-of-archive blocks");
  });
});
