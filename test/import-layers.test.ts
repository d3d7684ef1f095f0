import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { crossFloorImports, FLOORS, importsNotPointingDown, specifiersOf, unplacedFloors } from "./support/import-layers.js";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("every import between folders of src/ points down", () => {
  const edges = crossFloorImports(root);

  it("reads the imports (the check is not vacuous)", () => {
    expect(edges.length).toBeGreaterThan(300);
    // A dynamic import counts too: `aos serve` loads the API on demand.
    expect(edges).toContainEqual(expect.objectContaining({ fromFloor: "cli", toFloor: "api" }));
    expect(edges).toContainEqual(expect.objectContaining({ fromFloor: "worker", toFloor: "db" }));
  });

  it("places every folder and root file of src/ on exactly one floor", () => {
    expect(unplacedFloors(root)).toEqual([]);
    const named = FLOORS.flat();
    expect(new Set(named).size).toBe(named.length);
  });

  it("has no import to the importer's own floor or one above it", () => {
    const shown = importsNotPointingDown(edges).map((edge) => `${edge.from} -> ${edge.to} (${edge.fromFloor} may not import ${edge.toFloor})`);
    expect(shown).toEqual([]);
  });

  it("flags an import that points up", () => {
    const up = { from: "src/worker/runner.ts", to: "src/services/policies.ts", fromFloor: "worker", toFloor: "services" };
    const sideways = { from: "src/trace/chain.ts", to: "src/db/database.ts", fromFloor: "trace", toFloor: "db" };
    const down = { from: "src/services/runs.ts", to: "src/worker/claim.ts", fromFloor: "services", toFloor: "worker" };
    expect(importsNotPointingDown([up, sideways, down])).toEqual([up, sideways]);
  });
});

describe("specifiersOf", () => {
  it("reads every form of import, over several lines, and nothing in text", () => {
    const text = [
      'import { a, type B } from "./a.js";',
      "import type {",
      "  C,",
      "  D as E,",
      '} from "../c.js";',
      'import * as f from "./f.js";',
      'export { g } from "./g.js";',
      'export type * from "./h.js";',
      'import "./side-effect.js";',
      'const m = await import("../lazy.js");',
      ' * import { x } from "./in-a-comment.js";',
      'const note = "not an import from \\"./y.js\\"";',
    ].join("\n");
    expect(specifiersOf(text).sort()).toEqual(["../c.js", "../lazy.js", "./a.js", "./f.js", "./g.js", "./h.js", "./side-effect.js"]);
  });
});
