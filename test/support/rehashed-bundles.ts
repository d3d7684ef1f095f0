import { createHash, generateKeyPairSync, sign as edSign } from "node:crypto";

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
  // Integers written with a fraction or an exponent: the same number to JSON.parse, not an integer as written.
  const first = bundle.steps[0];
  if (first !== undefined) {
    const steps = (changed: string) => [{ ...first, header: changed }, ...bundle.steps.slice(1)];
    add("steps[0].header: cost_cents written 0.0", { ...bundle, steps: steps(first.header.replace(/"cost_cents":(\d+)/, '"cost_cents":$1.0')) });
    add("steps[0].header: seq written 0e0", { ...bundle, steps: steps(first.header.replace('"seq":0', '"seq":0e0')) });
    add("steps[0]: header not a string and a member added", { ...bundle, steps: [{ ...first, header: 5 as never, x: "1" }, ...bundle.steps.slice(1)] }, false);
  }
  if (bundle.run_end !== null) {
    add("run_end: status given twice", { ...bundle, run_end: withFirst(bundle.run_end, `"status":"succeeded"`) });
    add("run_end: tokens written 0.0", { ...bundle, run_end: bundle.run_end.replace(/"tokens":(\d+)/, '"tokens":$1.0') });
    const twoWrong = bundle.run_end.replace(/"created_at":"[^"]*"/, '"created_at":"yesterday"').replace(/"goal_sha256":"[0-9a-f]*"/, '"goal_sha256":"x"');
    add("run_end: created_at and goal_sha256 both malformed (the table's order names created_at)", { ...bundle, run_end: twoWrong });
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

/**
 * A signer made with node:crypto alone, signing C2SP notes as docs/proofs.md describes them (key id =
 * SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[:4]; a line "— <name> base64(key id ‖ signature)"): the bundle holder who
 * also holds a key a verifier trusts, re-signing whatever they changed.
 */
export function forgingSigner(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const keyId = sha256(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([1]), raw])).subarray(0, 4);
  return {
    vkey: `${name}+${keyId.toString("hex")}+${Buffer.concat([Buffer.from([1]), raw]).toString("base64")}`,
    sign: (text: string) => `${text}\n— ${name} ${Buffer.concat([keyId, edSign(null, Buffer.from(text), privateKey)]).toString("base64")}\n`,
    name,
  };
}

/** RFC 6962's Merkle Tree Hash over leaf hashes. */
export function merkleRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0] as Buffer;
  let split = 1;
  while (split * 2 < leaves.length) split *= 2;
  return sha256(Buffer.concat([Buffer.from([1]), merkleRoot(leaves.slice(0, split)), merkleRoot(leaves.slice(split))]));
}

/**
 * How a re-signed v3 bundle's tenant log is written: by default the run is entry 1 of a log of 3 (two other entries
 * around it), its checkpoint `<signer>/tenant/<tenant, encodeURIComponent>` signed by the same signer.
 */
export interface TenantLogForgery {
  entry?: (entry: string) => string;
  origin?: (tenantId: string) => string;
  /** Text after the checkpoint's three lines (extension lines), and the size written on line 2. */
  extra?: string;
  size?: (size: number) => string;
  index?: number;
  /** The note as signed (the signature lines), given the body and the signer's own note. */
  sign?: (body: string, signed: string) => string;
}

/**
 * A finished run's bundle after `change` to its records' texts (header, step headers, run-end), re-hashed and
 * re-signed by `signer` for `<its name>/run/<run_id>` (or the origin given): consistent in every hash and signature,
 * so only the verifiers' reading of the records and checkpoint can refuse it. A v3 bundle's tenant log is rebuilt the
 * same way (`tenant` changes how).
 */
export function resigned(
  bundle: Bundle,
  signer: ReturnType<typeof forgingSigner>,
  change: (record: string) => string = (record) => record,
  origin?: (runId: string) => string,
  tenant: TenantLogForgery = {},
): string {
  const changed: Bundle = { ...bundle, header: change(bundle.header), steps: bundle.steps.map((step) => ({ ...step, header: change(step.header) })), run_end: change(bundle.run_end as string) };
  const hashed = rehashed(changed);
  const leaves = [...hashed.steps.map((step) => leafOf(step.header)), leafOf(hashed.run_end as string)];
  const { run_id: runId, tenant_id: tenantId } = JSON.parse(hashed.header) as { run_id: string; tenant_id: string };
  const root = merkleRoot(leaves);
  const body = [origin?.(runId) ?? `${signer.name}/run/${runId}`, String(leaves.length), root.toString("base64"), "aos-format aos-trace-v2", `aos-chain-head ${hashed.root_hash}`, ""].join("\n");
  const signedTrace = { ...hashed, checkpoint: signer.sign(body) };
  if (!("tenant_log" in bundle)) return JSON.stringify(signedTrace, null, 2);
  // A v3 bundle: the re-signed run as entry 1 of a tenant log of 3 by the same signer (docs/proofs.md, "Entries").
  const end = JSON.parse(hashed.run_end as string) as { status: string; completed_at: string };
  const genuine = tenantLogEntry({ tenant_id: tenantId, run_id: runId, status: end.status, completed_at: end.completed_at, tree_size: leaves.length, merkle_root: root.toString("hex"), chain_head: hashed.root_hash as string });
  const entry = tenant.entry?.(genuine) ?? genuine;
  const [before, after] = [leafOf("another run's entry, 0"), leafOf("another run's entry, 2")];
  const tenantRoot = sha256(Buffer.concat([Buffer.from([1]), sha256(Buffer.concat([Buffer.from([1]), before, leafOf(entry)])), after]));
  const tenantOrigin = tenant.origin?.(tenantId) ?? `${signer.name}/tenant/${encodeURIComponent(tenantId)}`;
  const tenantBody = `${tenantOrigin}\n${tenant.size?.(3) ?? "3"}\n${tenantRoot.toString("base64")}\n${tenant.extra ?? ""}`;
  const checkpoint = tenant.sign?.(tenantBody, signer.sign(tenantBody)) ?? signer.sign(tenantBody);
  const tenant_log = { index: tenant.index ?? 1, entry, inclusion_proof: [before.toString("hex"), after.toString("hex")], checkpoint, timestamp: null };
  return JSON.stringify({ ...signedTrace, tenant_log }, null, 2);
}

/** A tenant-log entry's canonical JSON: its members sorted by name, strings and an integer only (RFC 8785 for these). */
export function tenantLogEntry(facts: { tenant_id: string; run_id: string; status: string; completed_at: string; tree_size: number; merkle_root: string; chain_head: string }): string {
  const entry: Record<string, string | number> = { ...facts, kind: "tenant_log_entry", format: "aos-trace-v2" };
  return JSON.stringify(Object.fromEntries(Object.keys(entry).sort().map((name) => [name, entry[name]])));
}
