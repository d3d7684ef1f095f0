r"""`aos_verify.py consistency OLD NEW --key VKEY --tiles DIR`: does the tenant log of the NEW checkpoint extend the
OLD one? (docs/proofs.md, "Who we defend against": the key holder is bounded by whoever kept an older checkpoint.)

  1. Each file is a tenant checkpoint (three lines, origin `<key name>/tenant/<percent-encoded tenant>`) signed by a
     trusted key of that name; every line by a trusted key of that name must verify, other lines are ignored.
  2. Both have the same origin, and OLD is no larger than NEW. Equal sizes need equal roots; the empty tree is
     extended by every tree.
  3. RFC 9162 §2.1.4.1's consistency proof from OLD's size to NEW's, computed from the C2SP tlog-tiles directory,
     must verify (§2.1.4.2) against both signed roots.
  4. When it does not, the tiles are evidence only if the proof folds to NEW's signed root (every proof hash feeds
     it): then NEW's tree at OLD's size has another root than OLD, NOT_CONSISTENT. Otherwise the tiles are not
     this tree's (damaged, another log's): UNVERIFIABLE, never an accusation.

Verdicts: CONSISTENT (exit 0); NOT_CONSISTENT, TAMPERED, UNTRUSTED_KEY, UNVERIFIABLE (a tile is missing, or the
tiles do not give NEW's root) (exit 1); usage errors exit 2.
"""
import argparse, base64, json, re, urllib.parse
from aos_cli import load_keys, printable, usage_error
from aos_merkle import EMPTY_ROOT, TileError, TileReader, consistency_proof, consistency_roots, consistency_verifies
from aos_records import Verdict
from aos_tenant_log import check_log_signature, percent_encode, read_tenant_checkpoint

def _is_percent_encoded_tenant(text):
    """Non-empty, and exactly what encodeURIComponent writes for some tenant id (so it holds no "/")."""
    if not text or not re.fullmatch(r"(?:[A-Za-z0-9\-_.!~*'()]|%[0-9A-F]{2})+", text):
        return False
    try:
        return percent_encode(urllib.parse.unquote(text, errors="strict")) == text
    except UnicodeDecodeError:
        return False

def open_checkpoint(note, keys, which):
    """A kept tenant checkpoint -> (origin, size, root); Verdict TAMPERED or UNTRUSTED_KEY otherwise."""
    try:
        text, sigs, origin, size, root = read_tenant_checkpoint(note)
    except ValueError as e:
        raise Verdict("TAMPERED", f"the {which} checkpoint is not a tenant checkpoint: {e}")
    names = [name for name in dict.fromkeys(k[0] for k in keys) if origin.startswith(f"{name}/tenant/")]
    if not names:
        raise Verdict("UNTRUSTED_KEY", f"the {which} checkpoint's origin {origin[:100]!r} is not "
                      "<trusted key name>/tenant/<tenant id>: it is not a log of a trusted key")
    name = max(names, key=len)  # the longest trusted name the origin starts with (a name may hold "/")
    if not _is_percent_encoded_tenant(origin[len(name) + len("/tenant/"):]):
        raise Verdict("TAMPERED", f"the {which} checkpoint's origin {origin[:100]!r} does not end in a tenant id "
                      "percent-encoded as encodeURIComponent writes it")
    try:
        check_log_signature(text, sigs, name, keys)
    except Verdict as v:
        raise Verdict(v.status, f"the {which} checkpoint: {v.reason}")
    return origin, size, root

def check_consistency(old_note, new_note, keys, tiles_dir):
    """-> (status, reason, origin, old size, new size, proof hashes)."""
    o_origin, m, o_root = open_checkpoint(old_note, keys, "old")
    origin, n, n_root = open_checkpoint(new_note, keys, "new")
    if o_origin != origin:
        return "NOT_CONSISTENT", f"the checkpoints are of different logs: {o_origin} and {origin}", origin, m, n, []
    if m > n:
        return "NOT_CONSISTENT", "the new checkpoint's tree is smaller than the old one's", origin, m, n, []
    if m == 0 and o_root != EMPTY_ROOT:
        return "NOT_CONSISTENT", "the old checkpoint's empty tree has a root other than SHA-256()", origin, m, n, []
    if m == n and o_root != n_root:
        return "NOT_CONSISTENT", "the checkpoints have the same size and different roots: a fork", origin, m, n, []
    if m == 0 or m == n:
        return "CONSISTENT", None, origin, m, n, []
    tree = TileReader(tiles_dir, n)
    try:
        proof = consistency_proof(m, n, tree.mth)
        if consistency_verifies(m, n, o_root, n_root, proof):
            return "CONSISTENT", None, origin, m, n, proof
        # Which root failed: the tiles are only evidence against the log once its new root authenticates them.
        seed = tree.mth(0, m) if m & (m - 1) == 0 else None
        roots = consistency_roots(m, n, proof, seed)
    except TileError as e:
        return "UNVERIFIABLE", str(e), origin, m, n, []
    if roots is None or roots[1] != n_root:
        return ("UNVERIFIABLE", f"the tiles do not give the new checkpoint's root at size {n}: they are not this "
                "log's tree (another log, a damaged copy, or a log that no longer extends the new checkpoint)",
                origin, m, n, proof)
    return ("NOT_CONSISTENT", f"the log of the new checkpoint does not extend the old one: its first {m} entries "
            f"have the root {base64.b64encode(roots[0]).decode()}, the old checkpoint says "
            f"{base64.b64encode(o_root).decode()}", origin, m, n, proof)

def read_text(path, which):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        usage_error(f"cannot read the {which} checkpoint {path}: {e}")

def consistency_main(argv):
    ap = argparse.ArgumentParser(prog="aos_verify.py consistency",
                                 description="Prove that the tenant log of the NEW checkpoint extends the OLD one "
                                             "(RFC 9162), with hashes from a C2SP tlog-tiles directory.")
    ap.add_argument("old", help="a tenant checkpoint kept earlier (a signed note)")
    ap.add_argument("new", help="a later tenant checkpoint")
    ap.add_argument("--key", action="append", default=[], help="the log's trusted C2SP vkey, or a file of them "
                    "(repeatable)")
    ap.add_argument("--tiles", required=True, metavar="DIR", help="the log's tiles: DIR/tile/<L>/<N>[.p/<W>]")
    ap.add_argument("--json", action="store_true", help="print the result as a JSON object")
    args = ap.parse_args(argv)
    if not args.key:
        usage_error("no trusted key: pass --key <name+keyid+base64> or --key <file of vkeys> (the log's published "
                    "verification key)")
    keys = load_keys(args.key)
    old_note, new_note = read_text(args.old, "old"), read_text(args.new, "new")
    try:
        status, reason, origin, m, n, proof = check_consistency(old_note, new_note, keys, args.tiles)
    except Verdict as v:
        status, reason, origin, m, n, proof = v.status, v.reason, None, None, None, []
    if args.json:
        print(json.dumps({"consistent": status == "CONSISTENT", "status": status, "origin": origin, "old_size": m,
                          "new_size": n, "reason": reason, "proof": [h.hex() for h in proof]}))
    else:
        sizes = f", {m} \u2192 {n} entries" if m is not None else ""
        print(printable(f"{origin or 'tenant checkpoints'}: {status.replace('_', ' ')}{sizes}"))
        if reason is not None:
            print("  " + printable(reason))
    return 0 if status == "CONSISTENT" else 1
