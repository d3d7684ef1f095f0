import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";

/**
 * The floors of src/, top first: a module may import from its own folder and from any floor below its own, never
 * from its floor or above. A folder of src/ is named by its name (`worker` for src/worker/**), a file directly in
 * src/ by its name without `.ts` (`glossary` for src/glossary.ts). docs/architecture.md ("Floors") says why each
 * floor sits where it does; a new folder or root file fails the check until it is placed here.
 */
export const FLOORS: readonly (readonly string[])[] = [
  ["index"], // the package's entry: re-exports the SDK
  ["cli"], // the `aos` command; `aos serve` starts the API
  ["api", "client"], // the HTTP API; the SDK, which speaks to it over HTTP
  ["services"], // operations shared by the CLI and the API
  ["worker", "views"], // executing claimed runs; the JSON readers see
  ["planner", "proof", "records"], // plans; proofs from stored rows; the records a finished run leaves
  ["tenant-log"], // the tenant log: its sequencer, checkpoints, witness submission, proofs from stored nodes
  ["witness"], // a witness that cosigns tenant checkpoints, and the client the log submits them with
  ["skills"], // the skill contract, the registry, one file per skill
  ["policy"], // policy documents, decisions, the SSRF guard
  ["trace", "db"], // the proof format (no database); the pool, migrations and every SQL statement
  ["config", "input-text"], // the environment read once; the one check of outside text
  ["glossary", "errors", "logger", "input-issues", "egress", "price-table", "defaults", "abortable"], // words and shapes with no dependencies
  ["failure-catalog"], // the string codes AppError is built from
];

export interface ImportEdge {
  from: string;
  to: string;
  fromFloor: string;
  toFloor: string;
}

/** The floor a path under src/ (as `src/worker/runner.ts`) belongs to. */
export function floorOf(path: string): string {
  const parts = path.split(sep);
  return parts.length === 2 ? parts[1]!.replace(/\.ts$/, "") : parts[1]!;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

// The module specifiers of a file: `import … from`, `export … from` (type-only too) and side-effect imports, which
// this codebase writes from column 0, and dynamic `import("…")` anywhere. TypeScript 7 has no JavaScript API to
// parse with, and these three forms are all the language has.
const STATIC = /^(?:import|export)\s+(?:type\s+)?[\w$*\s{},]*?\bfrom\s*["']([^"']+)["']/gm;
const SIDE_EFFECT = /^import\s*["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

export function specifiersOf(text: string): string[] {
  return [STATIC, SIDE_EFFECT, DYNAMIC].flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]!));
}

/** Every relative import of the non-test modules under `root`/src that crosses from one floor to another. */
export function crossFloorImports(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(join(root, "src"))) {
    const from = relative(root, file);
    for (const fileName of specifiersOf(readFileSync(file, "utf8"))) {
      if (!fileName.startsWith(".")) continue;
      const to = normalize(join(dirname(from), fileName)).replace(/\.js$/, ".ts");
      const fromFloor = floorOf(from);
      const toFloor = floorOf(to);
      if (fromFloor !== toFloor) edges.push({ from, to, fromFloor, toFloor });
    }
  }
  return edges;
}

function floorIndex(name: string): number {
  return FLOORS.findIndex((floor) => floor.includes(name));
}

/** The imports that do not point down: to the importer's own floor or to one above it. */
export function importsNotPointingDown(edges: readonly ImportEdge[]): ImportEdge[] {
  return edges.filter((edge) => {
    const from = floorIndex(edge.fromFloor);
    const to = floorIndex(edge.toFloor);
    return from !== -1 && to !== -1 && to <= from;
  });
}

/** Folders and root files of src/ that no floor names. */
export function unplacedFloors(root: string): string[] {
  const names = sourceFiles(join(root, "src")).map((file) => floorOf(relative(root, file)));
  return [...new Set(names)].filter((name) => floorIndex(name) === -1).sort();
}
