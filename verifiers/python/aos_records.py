"""The records of an AOS proof bundle and how they are read (docs/proofs.md, "Exact bytes", "The trace", "The tenant
log", and the records' rules under "Verification"): I-JSON parsing, the verdict raised at the first failure, and each
record's members with their types, in the order the spec's tables list them. Python standard library only."""
import datetime, json, re

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
# A finished run's entry in its tenant's log ("The tenant log", "Entries"), and the members compared with the verified
# trace, in the order step 10.1 lists them.
ENTRY = [("kind", one_of("tenant_log_entry")), ("format", one_of("aos-trace-v2")), ("tenant_id", STR),
         ("run_id", STR), ("status", one_of("succeeded", "failed", "halted", "cancelled")), ("completed_at", TS),
         ("tree_size", INT), ("merkle_root", HEX), ("chain_head", HEX)]
ENTRY_FROM_TRACE = ["tenant_id", "run_id", "status", "completed_at", "tree_size", "merkle_root", "chain_head"]

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
