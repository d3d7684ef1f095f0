r"""Steps 10 to 12 of docs/proofs.md ("Verification"): a finished run's place in its tenant's log, the timestamp on
the tenant checkpoint, and the verifier's witness policy. Python standard library only.

10. tenant_log: exactly {index, entry, inclusion_proof, checkpoint, timestamp}; the entry agrees with the verified
    trace; the tenant checkpoint is `<run signer's name>/tenant/<percent-encoded tenant>`, three lines, signed by a
    trusted key of that name (lines by other keys are left to step 12); the RFC 9162 audit path proves the entry's
    leaf at `index` under its root.
11. timestamp (optional): canonical base64 of a DER TimeStampToken whose imprint is SHA-256 of the checkpoint's text.
12. witness policy (optional): every cosignature/v1 line by a listed witness verifies; at least K of them cosigned.
"""
import re, urllib.parse
from aos_merkle import inclusion_verifies, leaf_hash
from aos_notes import b64_canonical, cosignature_v1_verifies, ed25519_verify, read_note, sha
from aos_records import ENTRY, ENTRY_FROM_TRACE, HEX, INT, MAX, STR, Verdict, check_object, parse_bytes, tampered
from aos_timestamp import OID_SHA256, DerError, message_imprint

MAX_PROOF_HASHES = 64
PROOF = (lambda v: isinstance(v, list) and len(v) <= MAX_PROOF_HASHES and all(HEX[0](h) for h in v),
         f"an array of at most {MAX_PROOF_HASHES} hashes of 64 lowercase hex digits")
BASE64_OR_NULL = (lambda v: v is None or (type(v) is str and re.fullmatch("[A-Za-z0-9+/=]*", v) is not None),
                  "a string of base64 characters or null")
TENANT_LOG = [("index", INT), ("entry", STR), ("inclusion_proof", PROOF), ("checkpoint", STR),
              ("timestamp", BASE64_OR_NULL)]

def percent_encode(text):
    """As JavaScript's encodeURIComponent: UTF-8, every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ) as %XX."""
    return urllib.parse.quote(text, safe="-_.!~*'()")

def read_tenant_checkpoint(note):
    """A signed tenant checkpoint -> (text, signature lines, origin, tree size, root); ValueError(reason) when it
    is not a signed note whose text is exactly three lines: origin, tree size (decimal, no leading zeros, at most
    2^53 - 1), 32-byte root in canonical standard base64."""
    text, sigs = read_note(note)
    lines = text.split("\n")
    if len(lines) != 4:
        raise ValueError(f"the note text has {len(lines) - 1} lines, expected 3 (origin, tree size, root)")
    origin, size, root_b64 = lines[:3]
    root = b64_canonical(root_b64) or b""
    if not re.fullmatch(r"0|[1-9][0-9]{0,15}", size) or int(size) > MAX:
        raise ValueError("line 2 is not a tree size (decimal, no leading zeros, at most 2^53-1)")
    if len(root) != 32:
        raise ValueError("line 3 is not a 32-byte root in canonical standard base64")
    return text, sigs, origin, int(size), root

def check_log_signature(text, sigs, name, keys):
    """Step 10.2's signature rule (signed-note): every line by a trusted key of `name` must verify, and one must
    exist. -> the signers (name+keyid); Verdict UNTRUSTED_KEY or TAMPERED otherwise."""
    signers = []
    for line_name, kid, sig, _ in sigs:
        pubs = [pub for (kname, kkid, pub) in keys if (kname, kkid) == (line_name, kid)] if line_name == name else []
        if pubs and not any(ed25519_verify(pub, text.encode("utf-8"), sig) for pub in pubs):
            tampered("tenant_log.checkpoint", f"the signature by trusted key {name}+{kid.hex()} does not verify")
        if pubs:
            signers.append(f"{name}+{kid.hex()}")
    if not signers:
        named = [f"{n}+{kid.hex()}" for n, kid, _, _ in sigs if n == name]
        reason = (f"the tenant checkpoint is signed by a key that is not trusted: {', '.join(named)}" if named
                  else f"the tenant checkpoint carries no signature by {name}")
        raise Verdict("UNTRUSTED_KEY", reason, None, "tenant_log.checkpoint")
    return signers

def verify_tenant_log(tenant_log, trace, keys, policy, state):
    """Steps 10 to 12 for a finished run whose steps 1 to 9 gave VERIFIED. `trace` holds what the verified trace
    implies: tenant_id, run_id, status, completed_at, tree_size, merkle_root, chain_head, and signer (the run
    checkpoint's key name). Raises the Verdict's failure, or returns and the run is VERIFIED."""
    # 10. Tenant log: present, its shape, then the entry.
    if tenant_log is None:
        tampered("tenant_log", "the run has ended but the bundle does not place it in its tenant's log")
    check_object(tenant_log, TENANT_LOG, "tenant_log")
    entry = parse_bytes(tenant_log["entry"], "tenant_log.entry")
    check_object(entry, ENTRY, "tenant_log.entry")
    for name in ENTRY_FROM_TRACE:
        if entry[name] != trace[name]:
            tampered(f"tenant_log.entry.{name}", "does not equal the verified trace's "
                     + ("run checkpoint's " if name in ("tree_size", "merkle_root", "chain_head") else "") + name)

    # 10.2. The tenant checkpoint, signed by the log key that signed the run.
    try:
        text, sigs, origin, size, root = read_tenant_checkpoint(tenant_log["checkpoint"])
    except ValueError as e:
        tampered("tenant_log.checkpoint", str(e))
    want = f"{trace['signer']}/tenant/{percent_encode(trace['tenant_id'])}"
    if origin != want:
        tampered("tenant_log.checkpoint", "the origin is not <run checkpoint's signer>/tenant/<percent-encoded "
                 f"tenant id>, {want}")
    check_log_signature(text, sigs, trace["signer"], keys)

    # 10.3. The entry's leaf at its index, under the checkpoint's root.
    index = tenant_log["index"]
    if index >= size:
        tampered("tenant_log.index", f"is {index}, not below the tenant checkpoint's tree size {size}")
    proof = [bytes.fromhex(h) for h in tenant_log["inclusion_proof"]]
    if not inclusion_verifies(index, size, leaf_hash(tenant_log["entry"].encode("utf-8")), proof, root):
        tampered("tenant_log.inclusion_proof", f"does not prove the entry at index {index} of the tenant log "
                 f"of {size} entries")
    state["tenant_log"] = {"origin": origin, "index": index, "tree_size": size, "timestamp": None,
                           "witnessed_by": []}

    # 11. Timestamp: its imprint binds it to the checkpoint's text (its time is not checked here).
    if tenant_log["timestamp"] is not None:
        token = b64_canonical(tenant_log["timestamp"])
        if token is None:
            tampered("tenant_log.timestamp", "is not canonical standard base64")
        try:
            algorithm, digest = message_imprint(token)
        except DerError as e:
            tampered("tenant_log.timestamp", f"is not a DER TimeStampToken: {e}")
        if algorithm != OID_SHA256 or digest != sha(text.encode("utf-8")):
            tampered("tenant_log.timestamp", "its message imprint is not SHA-256 of the tenant checkpoint's text")
        state["tenant_log"]["timestamp"] = "message imprint checked; the token's signature and time are not"

    # 12. Witness policy.
    if policy is not None:
        check_witnesses(text, sigs, policy, state)

def check_witnesses(text, sigs, policy, state):
    """Every line by a listed witness (name and key id) must be a valid cosignature/v1 of the text; lines by other
    keys are ignored. Witnesses are counted by public key: a cosignature/v1 does not sign the witness's name, so one
    key listed under two names is one witness. Fewer than the threshold: UNWITNESSED."""
    witnesses, threshold = policy
    cosigned = []
    for name, kid, sig, _ in sigs:
        for witness in witnesses:
            if (witness[0], witness[1]) == (name, kid):
                if not cosignature_v1_verifies(witness[2], text, sig):
                    tampered("tenant_log.checkpoint", f"the cosignature by witness {name}+{kid.hex()} does not verify")
                if witness not in cosigned:
                    cosigned.append(witness)
    state["tenant_log"]["witnessed_by"] = [f"{n}+{k.hex()}" for n, k, _ in cosigned]
    count, listed = len({pub for _, _, pub in cosigned}), len({pub for _, _, pub in witnesses})
    if count < threshold:
        raise Verdict("UNWITNESSED", f"{count} of the {listed} trusted witnesses cosigned the tenant checkpoint; "
                      f"{threshold} required", None, "tenant_log.checkpoint")
