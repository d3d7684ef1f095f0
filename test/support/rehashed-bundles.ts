import { createHash } from "node:crypto";

/**
 * Changes a bundle holder can make and then re-hash consistently, leaves, chain and root (hashed here with
 * node:crypto from docs/proofs.md, not with AOS's code): what no hash catches in an unsigned bundle, so only the
 * verifiers' parsing can. Each record is rewritten as text the signer never writes — a member twice, a lone
 * surrogate escape, nesting past the limit — and the file's own structure and checkpoint are pushed to the limits
 * the spec sets (docs/proofs.md, "Verification", steps 1 and 8 and the records' rules).
 */
export interface RehashedBundle {
  what: string;
  text: string;
}

interface Step {
  header: string;
  leaf_hash: string;
  chain_hash: string;
  [payload: string]: string | null;
}

interface Bundle {
  header: string;
  steps: Step[];
  run_end: string | null;
  root_hash: string | null;
  checkpoint: string | null;
  [member: string]: unknown;
}

const sha256 = (bytes: Buffer): Buffer => createHash("sha256").update(bytes).digest();
const leafOf = (text: string): Buffer => sha256(Buffer.concat([Buffer.from([0]), Buffer.from(text, "utf8")]));

/** Recomputes every leaf and chain hash, and the root hash of an ended run, from the records as they now are. */
function rehashed(bundle: Bundle): Bundle {
  let chain = sha256(Buffer.from(`aos-trace-v2\n${bundle.header}`, "utf8"));
  const steps = bundle.steps.map((step) => {
    const leaf = leafOf(step.header);
    chain = sha256(Buffer.concat([chain, leaf]));
    return { ...step, leaf_hash: leaf.toString("hex"), chain_hash: chain.toString("hex") };
  });
  const root_hash = bundle.run_end === null ? null : sha256(Buffer.concat([chain, leafOf(bundle.run_end)])).toString("hex");
  return { ...bundle, steps, root_hash };
}

/** A record's JSON text with `addition` (a member, or several) written first in its outer object. */
function withFirst(record: string, addition: string): string {
  return `{${addition},${record.slice(1)}`;
}

const nested = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;

export function rehashedBundles(bundle: Bundle): RehashedBundle[] {
  const out: RehashedBundle[] = [];
  const add = (what: string, changed: Bundle, rehash = true) => out.push({ what, text: JSON.stringify(rehash ? rehashed(changed) : changed, null, 2) });
  const header = JSON.parse(bundle.header) as Record<string, unknown>;

  add("header: goal given twice (the first one differs)", { ...bundle, header: withFirst(bundle.header, `"goal":"pay 10000 dollars"`) });
  add("header: goal with a lone surrogate escape", { ...bundle, header: bundle.header.replace(`"goal":${JSON.stringify(header.goal)}`, `"goal":"\\ud800${String(header.goal)}"`) });
  add("header: a member nested 65 deep", { ...bundle, header: withFirst(bundle.header, `"deep":${nested(64)}`) });
  bundle.steps.forEach((step, seq) => {
    const steps = (changed: string) => bundle.steps.map((other, at) => (at === seq ? { ...other, header: changed } : other));
    add(`steps[${seq}].header: status given twice`, { ...bundle, steps: steps(withFirst(step.header, `"status":"succeeded"`)) });
    add(`steps[${seq}].header: step_id with a lone surrogate escape`, { ...bundle, steps: steps(step.header.replace(`"step_id":"`, `"step_id":"\\udc00`)) });
  });
  if (bundle.run_end !== null) {
    add("run_end: status given twice", { ...bundle, run_end: withFirst(bundle.run_end, `"status":"succeeded"`) });
  }

  // The file itself: nested exactly to the limit (a shape failure) and one past it (not a bundle at all).
  add("file: a member nested 64 deep in all", { ...bundle, extra: JSON.parse(nested(63)) as unknown }, false);
  add("file: a member nested 65 deep in all", { ...bundle, extra: JSON.parse(nested(64)) as unknown }, false);

  // The checkpoint's tree size past 2^53 - 1, spelled as a valid decimal: malformed, not "rows are missing".
  if (bundle.checkpoint !== null) {
    const [origin, , ...rest] = bundle.checkpoint.split("\n");
    for (const size of ["9007199254740992", "1000000000000000000000000000000"]) {
      add(`checkpoint: tree size ${size}`, { ...bundle, checkpoint: [origin, size, ...rest].join("\n") }, false);
    }
  }
  return out;
}
