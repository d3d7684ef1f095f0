#!/usr/bin/env python3
r"""Independent verifier for AOS proof bundles (aos-proof-bundle/v3 and v2), Python standard library only.

Written from docs/proofs.md, docs/witness.md, docs/timestamps.md and the C2SP specifications they cite, not from the
TypeScript implementation. It applies the spec's verification steps in order and stops at the first failure:
 1. format: the file is I-JSON (RFC 7493: UTF-8, JSON, no member name twice in one object, no lone surrogate
    in any string or member name, escaped or not; arrays and objects nested at most 64 deep) holding an object
    whose `format` is a string starting aos-proof-bundle/ (else "not an AOS proof bundle", a usage error,
    exit 2); v3 and v2 are verified, any other version is UNSUPPORTED (format v1 is not implemented here).
    Integer literals of any length parse (one too long for Python's int() is kept as a value that fails every
    type check);
 2. shape: exactly the bundle's members (v3: tenant_log too, an object or null), each step exactly {header,
    params, outcome, error, leaf_hash, chain_hash}, strings (payloads, run_end, root_hash and checkpoint may be
    null), leaf_hash, chain_hash and root_hash 64 lowercase hex digits; a failure inside steps[i] is at seq i, one
    in run_end or root_hash at seq n;
 3. trace header: I-JSON (the records are RFC 8785 canonical JSON, which is I-JSON: a record with a
    duplicate member name or a lone surrogate is malformed, TAMPERED naming the record), exact members and
    types, format aos-trace-v2, trace_id = "trace_" + run_id, timestamps YYYY-MM-DDTHH:MM:SS.mmmZ that are real
    instants (years 0001 to 9999); h0 = SHA-256("aos-trace-v2\n" || header bytes). Numbers in the records
    are JSON integers (no fraction, no exponent, not booleans) from 0 to 2^53-1, attempt at least 1, the
    run-end's duration_ms from -(2^53-1) to 2^53-1; a decision's action is allow, deny or require_approval;
 4. plan: hex(SHA-256(plan bytes)) = plan_sha256;
 5. steps, each failure at seq i: exact members and types, kind = step, seq = i; payload hashes (null hash:
    payload must be null; null payload: pruned); leaf_i = SHA-256(0x00 || header bytes) must equal leaf_hash
    (field steps[i].header); c_i = SHA-256(c_i-1 || leaf_i) must equal chain_hash (field header for i = 0,
    steps[i].chain_hash for i > 0);
 6. no run-end: root_hash, then checkpoint, then (v3) tenant_log must be null; verdict INCOMPLETE;
 7. run-end, each failure at seq n: exact members and types, kind = run_end, seq = step_count = n; leaf_n and
    c_n, c_n must equal root_hash (field run_end); members shared with the header (created_at included) equal
    to it, goal_sha256; then the RFC 6962 Merkle root of the n + 1 leaves;
 8. checkpoint: a C2SP signed note (no control character but newline; split at the last "\n\n") with exactly
    one signature line, whose key name is a valid C2SP key name (non-empty, no Unicode white space, no "+", no
    control character), and whose text is exactly five lines: origin <that key name>/run/<run_id>, tree size (at
    most 2^53-1) n + 1, canonical base64 root, aos-format aos-trace-v2, aos-chain-head <hex>; root and chain head
    equal the computed ones;
 9. signature: if its (name, key id) is a trusted key it must verify (pure-Python RFC 8032 Ed25519); not a
    trusted key: UNTRUSTED_KEY naming the signer. A v2 bundle is then VERIFIED, saying it does not prove the run
    is in its tenant's log (with a witness policy: UNWITNESSED);
10-12. v3: the tenant log entry, tenant checkpoint, inclusion proof, timestamp and witness policy
    (aos_tenant_log.py).
`python3 aos_verify.py consistency OLD NEW --key K --tiles DIR` proves one tenant checkpoint extends another
(aos_consistency.py). Untrusted text is printed with non-printable characters escaped; output never fails on
encoding. Exit 0 only for VERIFIED; 1 for TAMPERED, INCOMPLETE, UNSUPPORTED, UNTRUSTED_KEY, UNWITNESSED; 2 for usage
errors.
"""
import argparse, json, re, sys
from aos_notes import COSIGNATURE_KEY, b64_canonical, ed25519_verify, read_note, sha
from aos_merkle import merkle_root
from aos_records import (EQUAL_TO_HEADER, HEADER, HEX, MAX, RUN_END, STEP, STR, Verdict, _or_null, _str,
                         check_object, load_json, parse_bytes, tampered)
from aos_cli import load_keys, printable, usage_error
from aos_consistency import consistency_main
from aos_tenant_log import verify_tenant_log

# ---------------------------------------------------------------- verification, steps 2 to 9
BUNDLE_MEMBERS = ["format", "header", "plan", "steps", "run_end", "root_hash", "checkpoint"]
PAYLOADS = ["params", "outcome", "error"]
NOT_IN_LOG = "the run's place in its tenant's log (an aos-proof-bundle/v2 carries none)"

def verify(bundle, keys, policy, state):
    """Steps 2 to 12 on a bundle of format v2 or v3; raises the Verdict."""
    v3 = bundle["format"] == "aos-proof-bundle/v3"
    members = BUNDLE_MEMBERS + (["tenant_log"] if v3 else [])
    # 2. Shape. A failure inside steps[i] is at seq i, one naming run_end or root_hash (missing or duplicate
    # included) at seq n, the number of steps (none when steps is not an array), any other at no seq.
    steps = bundle.get("steps")
    n = len(steps) if isinstance(steps, list) else None
    check_object(bundle, [(m, (lambda v: True, "")) for m in members], None,
                 lambda name: n if name in ("run_end", "root_hash") else None)
    step_shape = ([("header", STR)] + [(p, _or_null(STR)) for p in PAYLOADS]
                  + [("leaf_hash", HEX), ("chain_hash", HEX)])
    types = [("header", STR, None), ("plan", STR, None), ("steps", (lambda v: n is not None, "an array"), None),
             ("run_end", _or_null(STR), n), ("root_hash", _or_null(HEX), n), ("checkpoint", _or_null(STR), None)]
    if v3:
        types.append(("tenant_log", (lambda v: v is None or isinstance(v, dict), "an object or null"), None))
    for name, (ok, desc), seq in types:
        if not ok(bundle[name]):
            tampered(name, f"must be {desc}", seq)
        if name == "steps":
            for i, st in enumerate(steps):
                check_object(st, step_shape, f"steps[{i}]", i)

    # 3. Header.
    header = parse_bytes(bundle["header"], "header")
    if isinstance(header, dict) and _str(header.get("run_id")):
        state["run_id"] = header["run_id"]
    check_object(header, HEADER, "header")
    if header["trace_id"] != "trace_" + header["run_id"]:
        tampered("header.trace_id", 'does not equal "trace_" + run_id')
    chain = sha(b"aos-trace-v2\n" + bundle["header"].encode("utf-8"))

    # 4. Plan.
    if sha(bundle["plan"].encode("utf-8")).hex() != header["plan_sha256"]:
        tampered("plan", "its SHA-256 does not equal header.plan_sha256")

    # 5. Steps.
    leaves = []
    for i, st in enumerate(steps):
        sh = parse_bytes(st["header"], f"steps[{i}].header", i)
        check_object(sh, STEP, f"steps[{i}].header", i)
        if sh["seq"] != i:
            tampered(f"steps[{i}].header.seq", f"is {sh['seq']}, expected {i}", i)
        pruned = False
        for payload in PAYLOADS:
            value, want = st[payload], sh[payload + "_sha256"]
            if want is None and value is not None:
                tampered(f"steps[{i}].{payload}", f"present although {payload}_sha256 is null", i)
            pruned = pruned or (want is not None and value is None)
            if value is not None and sha(value.encode("utf-8")).hex() != want:
                tampered(f"steps[{i}].{payload}", f"its SHA-256 does not equal {payload}_sha256", i)
        state["pruned_steps"] += pruned
        leaves.append(sha(b"\x00" + st["header"].encode("utf-8")))
        if leaves[-1].hex() != st["leaf_hash"]:
            tampered(f"steps[{i}].header", "its leaf hash does not equal leaf_hash (the step header or its "
                     "leaf hash was changed)", i)
        chain = sha(chain + leaves[-1])
        if chain.hex() != st["chain_hash"]:
            if i == 0:
                tampered("header", "the chain hash of seq 0 does not equal steps[0].chain_hash (the trace "
                         "header or this chain hash was changed)", 0)
            tampered(f"steps[{i}].chain_hash", "does not equal the chain hash computed from the leaves", i)

    # 6. Unfinished run.
    if bundle["run_end"] is None:
        if bundle["root_hash"] is not None:
            tampered("root_hash", "a root hash exists but the run has no run-end")
        if bundle["checkpoint"] is not None:
            tampered("checkpoint", "a checkpoint exists but the run has no run-end")
        if v3 and bundle["tenant_log"] is not None:
            tampered("tenant_log", "the run has no run-end, so no place in its tenant's log")
        raise Verdict("INCOMPLETE", f"the run has not ended: its recorded prefix ({n} steps, "
                      f"{state['pruned_steps']} pruned) checks, nothing is signed yet")

    # 7. Run-end.
    end = parse_bytes(bundle["run_end"], "run_end", n)
    check_object(end, RUN_END, "run_end", n)
    for name in ("seq", "step_count"):
        if end[name] != n:
            tampered(f"run_end.{name}", f"is {end[name]}, expected {n} (the number of steps)", n)
    leaves.append(sha(b"\x00" + bundle["run_end"].encode("utf-8")))
    chain = sha(chain + leaves[-1])
    if chain.hex() != bundle["root_hash"]:  # a null root_hash included
        tampered("run_end", "the chain head does not equal root_hash (the run-end or the root hash was changed)"
                 if bundle["root_hash"] is not None else "the run has ended but root_hash is null", n)
    for name in EQUAL_TO_HEADER:
        if end[name] != header[name]:
            tampered(f"run_end.{name}", "does not equal the header's", n)
    if end["goal_sha256"] != sha(header["goal"].encode("utf-8")).hex():
        tampered("run_end.goal_sha256", "does not equal the SHA-256 of the header's goal", n)
    root = merkle_root(leaves)

    # 8. Checkpoint body.
    note = bundle["checkpoint"]
    if note is None:
        tampered("checkpoint", "the run has ended but its trace has no checkpoint")
    try:  # a C2SP signed note: no control character but newline, valid key names
        text, sigs = read_note(note)
    except ValueError as e:
        tampered("checkpoint", str(e))
    # Exactly one signature line (counted before any is tried): AOS signs a run's checkpoint once.
    if len(sigs) != 1:
        tampered("checkpoint", f"the checkpoint carries {len(sigs)} signature lines; a run checkpoint carries "
                 "exactly one (AOS signs it once)")
    name, kid, sig, _ = sigs[0]
    lines = text.split("\n")  # five lines, each ending in "\n"
    if len(lines) != 6:
        tampered("checkpoint", f"the note text has {len(lines) - 1} lines, expected 5")
    origin, size, root_b64, fmt, head = lines[:5]
    signed_root = b64_canonical(root_b64) or b""
    for good, why in [
            (re.fullmatch(r"0|[1-9][0-9]*", size), "line 2 is not a tree size (decimal, no leading zeros)"),
            (not re.fullmatch("[0-9]+", size) or (len(size) <= 16 and int(size) <= MAX),
             "line 2 is a tree size above 2^53-1"),
            (len(signed_root) == 32, "line 3 is not a 32-byte root in canonical standard base64"),
            (fmt == "aos-format aos-trace-v2", "line 4 is not `aos-format aos-trace-v2`"),
            (head.startswith("aos-chain-head ") and HEX[0](head[15:]), "line 5 is not `aos-chain-head <hex>`"),
            (origin == f"{name}/run/{header['run_id']}", "the origin is not <signer's key name>/run/<run_id>")]:
        if not good:
            tampered("checkpoint", why)
    size_n = int(size)
    if size_n != n + 1:
        tampered("checkpoint", f"rows {'are missing' if size_n > n + 1 else 'were added'}: the checkpoint's "
                 f"tree size is {size[:40]}, the bundle has {n + 1} leaves", min(size_n, n + 1))
    if signed_root != root:
        tampered("checkpoint", "its Merkle root does not equal the one computed from the leaves")
    if head[15:] != chain.hex():
        tampered("checkpoint", "its chain head does not equal the one computed from the leaves")

    # 9. Signature: checked when its key is trusted.
    pubs = [pub for (kname, kkid, pub) in keys if (kname, kkid) == (name, kid)]
    if not pubs:
        raise Verdict("UNTRUSTED_KEY", f"the checkpoint is signed by a key that is not trusted: {name}+{kid.hex()}")
    if not any(ed25519_verify(pub, text.encode("utf-8"), sig) for pub in pubs):
        tampered("checkpoint", f"the signature by trusted key {name}+{kid.hex()} does not verify")
    state["signed_by"].append(f"{name}+{kid.hex()}")

    # 10 to 12 (v3): the run's place in its tenant's log. A v2 bundle has none, so meets no witness policy.
    if v3:
        trace = {"tenant_id": header["tenant_id"], "run_id": header["run_id"], "status": end["status"],
                 "completed_at": end["completed_at"], "tree_size": n + 1, "merkle_root": root.hex(),
                 "chain_head": chain.hex(), "signer": name}
        verify_tenant_log(bundle["tenant_log"], trace, keys, policy, state)
    else:
        state["not_covered"].append(NOT_IN_LOG)
        if policy is not None:
            raise Verdict("UNWITNESSED", "an aos-proof-bundle/v2 carries no tenant checkpoint for witnesses to "
                          f"cosign; {policy[1]} of {len(policy[0])} trusted witnesses required")
    pruned = state["pruned_steps"]
    raise Verdict("VERIFIED", "; ".join(
        ([f"payloads pruned for {pruned} of {n} steps: their headers are proven, their content is not in the "
          "bundle"] if pruned else []) + [f"not covered: {what}" for what in state["not_covered"]]))


# ---------------------------------------------------------------- command line
def witness_policy(witness_args, threshold):
    """--witness keys (type 0x04) and --witness-threshold K (default all) -> (witnesses, K). A witness is its public
    key: the same key given twice, or under two names, is one witness, so K can never be met by fewer keys."""
    if not witness_args:
        if threshold is not None:
            usage_error("--witness-threshold needs the witnesses it counts: give each with --witness <vkey>")
        return None
    witnesses = load_keys(witness_args, COSIGNATURE_KEY, "--witness")
    n = len({pub for _, _, pub in witnesses})
    k = n if threshold is None else int(threshold) if re.fullmatch("[1-9][0-9]{0,5}", threshold) else 0
    if not 1 <= k <= n:
        usage_error(f"--witness-threshold must be a whole number from 1 to {n} (the distinct witness keys given), "
                    f"got {threshold!r}")
    return witnesses, k

class NotABundle(Exception):
    """The file cannot be read, or is not an AOS proof bundle at all: a usage error (exit 2), not a verdict."""

def check_file(path, keys, policy=None):
    """The verdict on one bundle file, as the --json object; raises NotABundle."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NotABundle(f"cannot read {path}: {e}")
    try:  # 1. Format: I-JSON. (ValueError covers invalid UTF-8 too)
        bundle = load_json(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise NotABundle(f"{path}: not an AOS proof bundle (not I-JSON: {e})")
    if not (isinstance(bundle, dict) and _str(bundle.get("format"))
            and bundle["format"].startswith("aos-proof-bundle/")):
        raise NotABundle(f"{path}: not an AOS proof bundle (no `format` starting with aos-proof-bundle/)")

    state = {"run_id": None, "pruned_steps": 0, "signed_by": [], "not_covered": [], "tenant_log": None}
    try:
        if bundle["format"] not in ("aos-proof-bundle/v3", "aos-proof-bundle/v2"):
            raise Verdict("UNSUPPORTED", f"bundle format {bundle['format'][:60]} is not supported by this "
                          "verifier (it checks aos-proof-bundle/v3 and v2)")
        verify(bundle, keys, policy, state)
        v = Verdict("TAMPERED", "internal error: verification ended without a verdict")
    except Verdict as got:
        v = got
    except Exception as e:  # never a traceback: an unexpected failure is reported, and not trusted
        v = Verdict("TAMPERED", f"verification failed unexpectedly: {type(e).__name__}: {e}")
    ok = v.status == "VERIFIED"
    return {"verification_status": v.status, "first_bad_seq": v.seq, "field": v.field,
            "failure_reason": None if ok else v.reason, "reason": v.reason, "run_id": state["run_id"],
            "pruned_steps": state["pruned_steps"],
            "signed_by": list(dict.fromkeys(state["signed_by"])) if ok else [],
            "not_covered": state["not_covered"] if ok else [],
            "tenant_log": state["tenant_log"] if v.status in ("VERIFIED", "UNWITNESSED") else None}

def main(argv=None):
    for stream in (sys.stdout, sys.stderr):  # never an encoding error, whatever the terminal's encoding
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["consistency"]:
        return consistency_main(argv[1:])
    ap = argparse.ArgumentParser(
        description="Verify AOS proof bundles (aos-proof-bundle/v3 and v2). "
                    "`aos_verify.py consistency OLD NEW --key K --tiles DIR` checks two tenant checkpoints instead.")
    ap.add_argument("bundle", nargs="+", help="bundle files written by `aos export-proof`")
    ap.add_argument("--key", action="append", default=[], help="trusted C2SP vkey, or a file of them (repeatable)")
    ap.add_argument("--witness", action="append", default=[],
                    help="a trusted witness's cosignature vkey (name+keyid+base64(0x04 || key)), or a file of them "
                         "(repeatable): the tenant checkpoint must bear their cosignatures")
    ap.add_argument("--witness-threshold", metavar="K", help="how many of the --witness keys must have cosigned "
                    "(default: all of them)")
    ap.add_argument("--json", action="store_true",
                    help="print each result as a JSON object, one a line (with several files, a file that is "
                         "not a bundle is reported there with verification_status NOT_A_BUNDLE)")
    args = ap.parse_args(argv)
    if not args.key:
        usage_error("no trusted key: pass --key <name+keyid+base64> or --key <file of vkeys> (the operator's "
                    "published verification key); a key named inside a bundle is never trusted")
    keys = load_keys(args.key)
    policy = witness_policy(args.witness, args.witness_threshold)
    several = len(args.bundle) > 1
    all_ok = True
    for path in args.bundle:
        try:
            result = check_file(path, keys, policy)
        except NotABundle as e:
            if not several:
                usage_error(str(e))
            result = {"verification_status": "NOT_A_BUNDLE", "first_bad_seq": None, "field": None,
                      "failure_reason": str(e), "reason": str(e), "run_id": None, "pruned_steps": 0, "signed_by": [],
                      "not_covered": [], "tenant_log": None}
        ok = result["verification_status"] == "VERIFIED"
        all_ok = all_ok and ok
        if args.json:
            shown = {key: value for key, value in result.items() if key != "reason"}
            print(json.dumps({"file": path, **shown} if several else shown))
        else:
            print(printable(human_line(result, f"{path}: " if several else "")))
    return 0 if all_ok else 1

def human_line(result, prefix):
    if result["verification_status"] != "VERIFIED":
        return (prefix + result["verification_status"]
                + (f" at seq {result['first_bad_seq']}" if result["first_bad_seq"] is not None else "")
                + ": " + (f"{result['field']}: " if result["field"] else "") + result["reason"])
    notes = [result["reason"]] if result["reason"] else []
    log = result["tenant_log"]
    if log is not None:
        notes.append(f"entry {log['index']} of {log['tree_size']} in {log['origin']}"
                     + (f", cosigned by {', '.join(log['witnessed_by'])}" if log["witnessed_by"] else "")
                     + (f"; timestamp: {log['timestamp']}" if log["timestamp"] else ""))
    return prefix + "VERIFIED" + (f" ({'; '.join(notes)})" if notes else "")

if __name__ == "__main__":
    sys.exit(main())
