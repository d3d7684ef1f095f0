/**
 * Reads a POSIX ustar archive (IEEE Std 1003.1, "pax" format's ustar header) holding only regular files and
 * directories: what PGlite's `dumpDataDir` writes. Each entry is a 512-byte header followed by its data padded to
 * 512 bytes; two zero blocks end the archive.
 *
 *   offset  size  field
 *        0   100  name (NUL-terminated unless full)
 *      100     8  mode (octal)
 *      124    12  size (octal)
 *      148     8  chksum: sum of the header's bytes, this field counted as eight spaces (octal)
 *      156     1  typeflag: '0' or NUL a regular file, '5' a directory
 *      257     6  magic "ustar"
 *      345   155  prefix: joined to name with '/' when not empty
 *
 * Parsing is strict: a bad checksum, a size past the end, a link or device, or a path that climbs out of the
 * archive's root ends the read with an error instead of an entry the caller would write somewhere unexpected.
 */

const BLOCK = 512;

export interface TarEntry {
  /** Relative to the archive's root, without a leading '/': `base/1/1259`. */
  path: string;
  type: "file" | "directory";
  /** A view into the archive's bytes; empty for a directory. */
  data: Uint8Array;
}

function text(header: Uint8Array, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

function octal(header: Uint8Array, offset: number, length: number, field: string): number {
  const digits = text(header, offset, length).trim();
  if (!/^[0-7]+$/.test(digits)) throw new Error(`tar header: ${field} is not an octal number ("${digits}")`);
  return Number.parseInt(digits, 8);
}

function checksumOf(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  return sum;
}

function safePath(raw: string): string {
  const parts = raw.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.length === 0 || parts.some((part) => part === "..")) throw new Error(`tar entry "${raw}" is not a path inside the archive`);
  return parts.join("/");
}

function isZeroBlock(block: Uint8Array): boolean {
  return block.every((byte) => byte === 0);
}

export function readTarEntries(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (isZeroBlock(header)) return entries;
    if (octal(header, 148, 8, "chksum") !== checksumOf(header)) throw new Error(`tar header at byte ${offset}: checksum mismatch`);
    const name = text(header, 0, 100);
    const prefix = text(header, 345, 155);
    const path = safePath(prefix === "" ? name : `${prefix}/${name}`);
    const flag = String.fromCharCode(header[156] as number);
    const size = octal(header, 124, 12, "size");
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new Error(`tar entry ${path}: ${size} bytes run past the end of the archive`);
    if (flag === "0" || flag === "\0") entries.push({ path, type: "file", data: archive.subarray(start, start + size) });
    else if (flag === "5") entries.push({ path, type: "directory", data: new Uint8Array(0) });
    else throw new Error(`tar entry ${path}: type '${flag}' is neither a file nor a directory`);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new Error("tar archive ends without its end-of-archive blocks");
}
