#!/usr/bin/env python3
r"""Independent verifier for AOS proof bundles (aos-proof-bundle/v2), Python standard library only.

Written from docs/proofs.md alone ("Exact bytes", "The trace", "The bundle", "Verification"), not from the
TypeScript implementation. It applies the spec's verification steps in order and stops at the first failure:
 1. format: the file is I-JSON (RFC 7493: UTF-8, JSON, no member name twice in one object, no lone surrogate
    in any string or member name, escaped or not; arrays and objects nested at most 64 deep) holding an object
    whose `format` is a string starting aos-proof-bundle/ (else "not an AOS proof bundle", a usage error,
    exit 2); any version but v2 is UNSUPPORTED (format v1 is not implemented here). Integer literals of any
    length parse (one too long for Python's int() is kept as a value that fails every type check);
 2. shape: exactly the bundle's members, each step exactly {header, params, outcome, error, leaf_hash,
    chain_hash}, strings (payloads, run_end, root_hash and checkpoint may be null), leaf_hash, chain_hash and
    root_hash 64 lowercase hex digits; a failure inside steps[i] is at seq i, one in run_end or root_hash at
    seq n;
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
 6. no run-end: root_hash, then checkpoint, must be null; verdict INCOMPLETE;
 7. run-end, each failure at seq n: exact members and types, kind = run_end, seq = step_count = n; leaf_n and
    c_n, c_n must equal root_hash (field run_end); members shared with the header (created_at included) equal
    to it, goal_sha256; then the RFC 6962 Merkle root of the n + 1 leaves;
 8. checkpoint: a C2SP signed note (no control character but newline; split at the last "\n\n") with exactly
    one signature line, whose key name
    is a valid C2SP key name (non-empty, no Unicode white space, no "+", no control character), and whose text
    is exactly five lines: origin <that key name>/run/<run_id>, tree size (at most 2^53-1) n + 1, canonical
    base64 root, aos-format aos-trace-v2, aos-chain-head <hex>; root and chain head equal the computed ones;
 9. signature: if its (name, key id) is a trusted key it must verify (pure-Python RFC 8032 Ed25519); not a
    trusted key: UNTRUSTED_KEY naming the signer; else VERIFIED.
Untrusted text is printed with non-printable characters escaped; output never fails on encoding.
Exit 0 only for VERIFIED; 1 for TAMPERED, INCOMPLETE, UNSUPPORTED, UNTRUSTED_KEY; 2 for usage errors.
"""
import argparse, base64, datetime, hashlib, json, os, re, sys, unicodedata

# ---------------------------------------------------------------- Ed25519 verification (RFC 8032 §5.1)
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

def _add(p1, p2):  # extended coordinates, RFC 8032 §5.1.4; the formula is complete, so it also doubles
    (x1, y1, z1, t1), (x2, y2, z2, t2) = p1, p2
    a, b = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, d = t1 * 2 * D * t2 % P, z1 * 2 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)

def _mul(s, pt):  # double and add, least significant bit first
    q = (0, 1, 1, 0)
    while s:
        q, pt, s = (_add(q, pt) if s & 1 else q), _add(pt, pt), s >> 1
    return q

def _decode_point(s):  # RFC 8032 §5.1.3; None for an invalid encoding (wrong length, y >= p, no x)
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P or (x == 0 and sign):
        return None
    x = P - x if x & 1 != sign else x
    return (x, y, 1, x * y % P)

BASE = _decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))

def ed25519_verify(pub, msg, sig):
    """RFC 8032 §5.1.7 with the COFACTORLESS check [S]B == R + [k]A (as OpenSSL/Node and Go do)."""
    a, r = _decode_point(pub), _decode_point(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if len(sig) != 64 or a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    (x1, y1, z1, _), (x2, y2, z2, _) = _mul(s, BASE), _add(r, _mul(k, a))
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0  # same projective point

# ---------------------------------------------------------------- bytes, keys, JSON
def sha(b):
    return hashlib.sha256(b).digest()

def b64_canonical(s):  # standard alphabet with padding, and re-encoding gives the same text; else None
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:
        return None
    return raw if base64.b64encode(raw).decode("ascii") == s else None

def valid_key_name(name):
    """A C2SP key name: non-empty, no Unicode white space, no "+" (and no control character)."""
    return bool(name) and "+" not in name and not any(
        c.isspace() or unicodedata.category(c) == "Cc" for c in name)

def parse_vkey(text):
    """C2SP vkey `name+keyid+base64(0x01 || pubkey)` -> (name, key id bytes, pubkey); ValueError if bad."""
    parts = text.strip().split("+", 2)  # the name has no "+"; base64 may
    if len(parts) != 3 or not valid_key_name(parts[0]):
        raise ValueError("not a vkey (name+keyid+base64)")
    name, kid, b64 = parts
    if not re.fullmatch(r"[0-9a-fA-F]{8}", kid):
        raise ValueError("key id is not 8 hex digits")
    raw = b64_canonical(b64) or b""
    if len(raw) != 33 or raw[0] != 1 or _decode_point(raw[1:]) is None:
        raise ValueError("not base64(0x01 || 32-byte Ed25519 public key)")
    if sha(name.encode("utf-8") + b"\n\x01" + raw[1:])[:4] != bytes.fromhex(kid):
        raise ValueError("key id does not equal SHA-256(name || \\n || 0x01 || key)[:4]")
    return name, bytes.fromhex(kid), raw[1:]

class BigInt:
    """An integer literal too long for int() (Python 3.11 parses at most 4300 digits): valid JSON, but never an
    integer of a record (those are at most 2^53 - 1), so it fails every type check."""
    def __init__(self, text):
        self.digits = len(text.lstrip("-"))

    def __repr__(self):
        return f"an integer of {self.digits} digits"

def _parse_int(text):
    return int(text) if len(text) <= 100 else BigInt(text)

def _no_duplicates(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"member name {json.dumps(dup)} appears twice in one object")
    return obj

def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")

SURROGATE = re.compile("[\ud800-\udfff]")

MAX_DEPTH = 64  # arrays and objects nest at most this deep in a bundle or record (the spec's limit)

def load_json(text):
    """Parse I-JSON (RFC 7493): JSON (no NaN or Infinity), no member name twice in one object, no lone surrogate
    in any string or member name, nested at most MAX_DEPTH deep. ValueError (or RecursionError) otherwise."""
    value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_json, parse_int=_parse_int)
    stack = [(value, 1)]
    while stack:  # iterative: the value may be nested as deep as the parser allowed
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"it nests deeper than {MAX_DEPTH} levels")
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    # json combines an escaped surrogate pair into one character; a lone surrogate stays one. Strict UTF-8
    # decoding leaves none unescaped, so only look when the text has a surrogate or a \uD800-\uDFFF escape.
    if re.search("[\ud800-\udfff]|\\\\u[dD][89abcdefABCDEF]", text):
        stack = [value]
        while stack:  # iterative: the value may be nested as deep as the parser allowed
            v = stack.pop()
            if isinstance(v, dict):
                stack.extend(v)  # the member names
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
            elif isinstance(v, str) and SURROGATE.search(v):
                raise ValueError(f"a lone surrogate in the string or member name {json.dumps(v)[:80]}")
    return value

def show(v):  # a short description of an untrusted value, for a message
    if isinstance(v, (dict, list)):
        return "an object" if isinstance(v, dict) else "an array"
    return repr(v) if isinstance(v, BigInt) else json.dumps(v)[:80]

class Verdict(Exception):  # the outcome of verification; raised at the first failure
    def __init__(self, status, reason, seq=None, field=None):
        super().__init__(reason)
        self.status, self.reason, self.seq, self.field = status, reason, seq, field

def tampered(field, reason, seq=None):
    raise Verdict("TAMPERED", reason, seq, field)

# ---------------------------------------------------------------- member types: (check, description)
TS_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{3}Z")

def _ts(v):
    m = TS_RE.fullmatch(v) if type(v) is str else None
    try:
        return m is not None and bool(datetime.datetime(*map(int, m.groups())))
    except ValueError:  # not a real date or time (2024-02-30, 24:00:00, ...)
        return False

def _str(v):  # load_json lets no lone surrogate through, so every string has a UTF-8 encoding
    return type(v) is str

def _or_null(t):
    return (lambda v: v is None or t[0](v), t[1] + " or null")

def one_of(*vals):
    return (lambda v: type(v) is str and v in vals, " or ".join(map(json.dumps, vals)))

def int_in(lo, hi, desc):  # bool (True) and 1.0 are not integers; a BigInt is not an int either
    return (lambda v: type(v) is int and lo <= v <= hi, f"an integer from {desc}")

MAX = 2**53 - 1
STR, INT = (_str, "a string"), int_in(0, MAX, "0 to 2^53-1")
ATTEMPT, SIGNED_INT = int_in(1, MAX, "1 to 2^53-1"), int_in(-MAX, MAX, "-(2^53-1) to 2^53-1")
HEX = (lambda v: type(v) is str and re.fullmatch(r"[0-9a-f]{64}", v) is not None, "64 lowercase hex digits")
TS = (_ts, "a timestamp YYYY-MM-DDTHH:MM:SS.mmmZ that is a real date")
DECISION_KEYS = ["action", "policy_hash", "policy_id", "reason"]
DECISION = (lambda v: v is None or (isinstance(v, dict) and sorted(v) == DECISION_KEYS
                                    and all(_str(x) for x in v.values())
                                    and v["action"] in ("allow", "deny", "require_approval")),
            "null or an object {action, reason, policy_id, policy_hash} of strings, action allow, deny or "
            "require_approval")
SHARED = [("run_id", STR), ("tenant_id", STR), ("agent_id", STR), ("origin_system_id", STR),
          ("actor_type", one_of("HUMAN", "SYSTEM", "SERVICE")), ("actor_id", _or_null(STR)),
          ("parent_run_id", _or_null(STR))]
HEADER = [("format", one_of("aos-trace-v2")), ("trace_id", STR)] + SHARED + [
    ("goal", STR), ("plan_sha256", HEX), ("created_at", TS)]
STEP = [("kind", one_of("step")), ("seq", INT), ("step_index", INT), ("step_id", STR),
        ("attempt", ATTEMPT), ("next_step_index", INT),
        ("skill", STR), ("skill_version", STR),
        ("status", one_of("succeeded", "failed", "blocked", "started", "interrupted")), ("outcome_code", STR),
        ("cost_cents", INT), ("tokens", INT), ("duration_ms", INT), ("started_at", TS), ("completed_at", TS),
        ("decision", DECISION), ("params_sha256", HEX), ("outcome_sha256", _or_null(HEX)),
        ("error_sha256", _or_null(HEX))]
RUN_END = [("kind", one_of("run_end")), ("seq", INT), ("step_count", INT)] + SHARED + [
    ("plan_sha256", HEX), ("created_at", TS), ("goal_sha256", HEX),
    ("status", one_of("succeeded", "failed", "halted", "cancelled")),
    ("termination_reason", STR), ("error_message", _or_null(STR)), ("cost_cents", INT), ("tokens", INT),
    ("attempts", INT), ("started_at", _or_null(TS)), ("completed_at", TS),
    ("duration_ms", _or_null(SIGNED_INT))]
# The members the run-end shares with the header (the nine its table lists), checked equal to the header's.
EQUAL_TO_HEADER = [name for name, _ in SHARED] + ["plan_sha256", "created_at"]

def check_object(obj, schema, prefix, seq=None):
    """Exact members and types: members in the spec's table order, then unexpected ones.
    seq is the first bad seq of every failure, or a function of the member's name giving it."""
    seq_of = seq if callable(seq) else (lambda name: seq)
    if not isinstance(obj, dict):
        tampered(prefix, "is not a JSON object", seq_of(None))
    at = (lambda name: f"{prefix}.{name}") if prefix else (lambda name: name)
    for name, (ok, desc) in schema:
        if name not in obj:
            tampered(at(name), "missing member", seq_of(name))
        if not ok(obj[name]):
            tampered(at(name), f"must be {desc}, is {show(obj[name])}", seq_of(name))
    for name in [name for name in obj if name not in dict(schema)]:
        tampered(at(name), "unexpected member", seq_of(name))

def parse_bytes(text, field, seq=None):
    try:
        return load_json(text)
    except (ValueError, RecursionError) as e:
        tampered(field, f"is not I-JSON ({e})", seq)

def merkle_root(leaves):  # RFC 6962 MTH: split at the largest power of two strictly below n
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))

# ---------------------------------------------------------------- verification, steps 2 to 9
BUNDLE_MEMBERS = ["format", "header", "plan", "steps", "run_end", "root_hash", "checkpoint"]
PAYLOADS = ["params", "outcome", "error"]

def verify(bundle, keys, state):
    # 2. Shape. A failure inside steps[i] is at seq i, one naming run_end or root_hash (missing or duplicate
    # included) at seq n, the number of steps (none when steps is not an array), any other at no seq.
    steps = bundle.get("steps")
    n = len(steps) if isinstance(steps, list) else None
    check_object(bundle, [(m, (lambda v: True, "")) for m in BUNDLE_MEMBERS], None,
                 lambda name: n if name in ("run_end", "root_hash") else None)
    step_shape = ([("header", STR)] + [(p, _or_null(STR)) for p in PAYLOADS]
                  + [("leaf_hash", HEX), ("chain_hash", HEX)])
    for name, (ok, desc), seq in [("header", STR, None), ("plan", STR, None),
                                  ("steps", (lambda v: n is not None, "an array"), None),
                                  ("run_end", _or_null(STR), n), ("root_hash", _or_null(HEX), n),
                                  ("checkpoint", _or_null(STR), None)]:
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
    if re.search("[\x00-\x09\x0b-\x1f\x7f]", note):  # C2SP signed note: no control character but newline
        tampered("checkpoint", "the note holds a control character other than newline")
    cut = note.rfind("\n\n")
    text, sig_block = note[:cut + 1], note[cut + 2:]
    if cut < 0 or not sig_block.endswith("\n"):
        tampered("checkpoint", "not a signed note (text, blank line, signature lines each ending in a newline)")
    sigs = []
    for line in sig_block[:-1].split("\n"):  # "— <name> <base64(key id || signature)>"
        name, space, b64 = line[2:].partition(" ")
        raw = b64_canonical(b64) if space else None
        if not line.startswith("\u2014 ") or not name or raw is None or len(raw) < 5:
            tampered("checkpoint", f"malformed signature line {json.dumps(line)[:100]}")
        sigs.append((name, raw[:4], raw[4:]))
    # Exactly one signature line (counted before any is tried), by a valid key name: AOS signs a run's checkpoint once.
    if len(sigs) != 1:
        tampered("checkpoint", f"the checkpoint carries {len(sigs)} signature lines; a run checkpoint carries "
                 "exactly one (AOS signs it once)")
    name, kid, sig = sigs[0]
    if not valid_key_name(name):
        tampered("checkpoint", f"the signature line's key name {json.dumps(name)[:80]} is not a valid C2SP key "
                 "name (non-empty, no white space, no +)")
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
    pruned = state["pruned_steps"]
    raise Verdict("VERIFIED", f"payloads pruned for {pruned} of {n} steps: their headers are proven, "
                  "their content is not in the bundle" if pruned else "")

# ---------------------------------------------------------------- command line
def printable(text):  # untrusted text for a terminal: every non-printable character escaped (\t, \x1b, \u202e)
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)

def usage_error(msg):
    print(printable(f"aos_verify: {msg}"), file=sys.stderr)
    sys.exit(2)

def load_keys(args):
    keys = []
    for arg in args:
        lines = [arg]
        if os.path.isfile(arg):  # a file of vkeys, one a line (blank lines and # comments skipped)
            try:
                with open(arg, encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
            except (OSError, UnicodeDecodeError) as e:
                usage_error(f"cannot read key file {arg}: {e}")
            if not lines:
                usage_error(f"key file {arg} holds no vkey")
        for line in lines:
            try:
                keys.append(parse_vkey(line))
            except ValueError as e:
                usage_error(f"malformed --key {line[:80]!r}: {e}")
    return keys

class NotABundle(Exception):
    """The file cannot be read, or is not an AOS proof bundle at all: a usage error (exit 2), not a verdict."""

def check_file(path, keys):
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

    state = {"run_id": None, "pruned_steps": 0, "signed_by": []}
    try:
        if bundle["format"] != "aos-proof-bundle/v2":
            raise Verdict("UNSUPPORTED", f"bundle format {bundle['format'][:60]} is not supported by this "
                          "verifier (it checks aos-proof-bundle/v2 only)")
        verify(bundle, keys, state)
        v = Verdict("TAMPERED", "internal error: verification ended without a verdict")
    except Verdict as got:
        v = got
    except Exception as e:  # never a traceback: an unexpected failure is reported, and not trusted
        v = Verdict("TAMPERED", f"verification failed unexpectedly: {type(e).__name__}: {e}")
    ok = v.status == "VERIFIED"
    return {"verification_status": v.status, "first_bad_seq": v.seq, "field": v.field,
            "failure_reason": None if ok else v.reason, "reason": v.reason, "run_id": state["run_id"],
            "pruned_steps": state["pruned_steps"],
            "signed_by": list(dict.fromkeys(state["signed_by"])) if ok else []}

def main(argv=None):
    for stream in (sys.stdout, sys.stderr):  # never an encoding error, whatever the terminal's encoding
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    ap = argparse.ArgumentParser(description="Verify AOS proof bundles (aos-proof-bundle/v2).")
    ap.add_argument("bundle", nargs="+", help="bundle files written by `aos export-proof`")
    ap.add_argument("--key", action="append", default=[], help="trusted C2SP vkey, or a file of them (repeatable)")
    ap.add_argument("--json", action="store_true",
                    help="print each result as a JSON object, one a line (with several files, a file that is "
                         "not a bundle is reported there with verification_status NOT_A_BUNDLE)")
    args = ap.parse_args(argv)
    if not args.key:
        usage_error("no trusted key: pass --key <name+keyid+base64> or --key <file of vkeys> (the operator's "
                    "published verification key); a key named inside a bundle is never trusted")
    keys = load_keys(args.key)
    several = len(args.bundle) > 1
    all_ok = True
    for path in args.bundle:
        try:
            result = check_file(path, keys)
        except NotABundle as e:
            if not several:
                usage_error(str(e))
            result = {"verification_status": "NOT_A_BUNDLE", "first_bad_seq": None, "field": None,
                      "failure_reason": str(e), "reason": str(e), "run_id": None, "pruned_steps": 0, "signed_by": []}
        ok = result["verification_status"] == "VERIFIED"
        all_ok = all_ok and ok
        if args.json:
            shown = {key: value for key, value in result.items() if key != "reason"}
            print(json.dumps({"file": path, **shown} if several else shown))
        else:
            prefix = f"{path}: " if several else ""
            if ok:
                line = prefix + "VERIFIED" + (f" ({result['reason']})" if result["reason"] else "")
            else:
                line = (prefix + result["verification_status"]
                        + (f" at seq {result['first_bad_seq']}" if result["first_bad_seq"] is not None else "")
                        + ": " + (f"{result['field']}: " if result["field"] else "") + result["reason"])
            print(printable(line))
    return 0 if all_ok else 1

if __name__ == "__main__":
    sys.exit(main())
