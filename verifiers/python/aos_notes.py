r"""C2SP signed notes (https://c2sp.org/signed-note), their keys and witness cosignatures
(https://c2sp.org/tlog-cosignature), and the Ed25519 they are signed with. Python standard library only.

A note is text ending in a newline, a blank line, then signature lines `— <key name> base64(key id || signature)`.
A key is named by (name, key id) with key id = SHA-256(name || "\n" || type || public key)[:4]: type 0x01 for a
log's Ed25519 note key, 0x04 for a witness's timestamped Ed25519 cosignature key, so neither can pass for the other.
A cosignature/v1 is key id || 8-byte big-endian POSIX time || Ed25519 signature over
"cosignature/v1\ntime <time>\n" || the note text.
"""
import base64, functools, hashlib, re, unicodedata

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

def decode_point(s):  # RFC 8032 §5.1.3; None for an invalid encoding (wrong length, y >= p, no x)
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

BASE = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))

@functools.lru_cache(maxsize=4096)  # a batch of bundles cut from one run repeats the same few signatures
def ed25519_verify(pub, msg, sig):
    """RFC 8032 §5.1.7 with the COFACTORLESS check [S]B == R + [k]A (as OpenSSL/Node and Go do)."""
    a, r = decode_point(pub), decode_point(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if len(sig) != 64 or a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    (x1, y1, z1, _), (x2, y2, z2, _) = _mul(s, BASE), _add(r, _mul(k, a))
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0  # same projective point

# ---------------------------------------------------------------- bytes and keys
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

NOTE_KEY, COSIGNATURE_KEY = 0x01, 0x04  # signed-note's signature types: Ed25519, timestamped Ed25519 cosignature

def key_id(name, key_type, pub):
    return sha(name.encode("utf-8") + b"\n" + bytes([key_type]) + pub)[:4]

def parse_vkey(text, key_type=NOTE_KEY):
    """C2SP vkey `name+keyid+base64(type || pubkey)` -> (name, key id bytes, pubkey); ValueError if bad."""
    parts = text.strip().split("+", 2)  # the name has no "+"; base64 may
    if len(parts) != 3 or not valid_key_name(parts[0]):
        raise ValueError("not a vkey (name+keyid+base64)")
    name, kid, b64 = parts
    if not re.fullmatch(r"[0-9a-fA-F]{8}", kid):
        raise ValueError("key id is not 8 hex digits")
    raw = b64_canonical(b64) or b""
    if len(raw) != 33 or raw[0] != key_type or decode_point(raw[1:]) is None:
        raise ValueError(f"not base64(0x{key_type:02x} || 32-byte Ed25519 public key)")
    if key_id(name, key_type, raw[1:]) != bytes.fromhex(kid):
        raise ValueError(f"key id does not equal SHA-256(name || \\n || 0x{key_type:02x} || key)[:4]")
    return name, bytes.fromhex(kid), raw[1:]

# ---------------------------------------------------------------- signed notes
def read_note(note):
    """A signed note -> (text, [(key name, key id, signature, line)]), text ending in its newline; ValueError(reason)
    when it is not one: a control character other than newline, no blank line before the signatures, a signature
    line not `— <valid key name> <canonical base64 of at least 5 bytes>`."""
    if re.search("[\x00-\x09\x0b-\x1f\x7f]", note):
        raise ValueError("the note holds a control character other than newline")
    cut = note.rfind("\n\n")
    text, sig_block = note[:cut + 1], note[cut + 2:]
    if cut < 0 or not sig_block.endswith("\n"):
        raise ValueError("not a signed note (text, blank line, signature lines each ending in a newline)")
    sigs = []
    for line in sig_block[:-1].split("\n"):
        name, space, b64 = line[2:].partition(" ")
        raw = b64_canonical(b64) if space else None
        if not line.startswith("\u2014 ") or not name or raw is None or len(raw) < 5:
            raise ValueError(f"malformed signature line {line[:100]!r}")
        if not valid_key_name(name):
            raise ValueError(f"the signature line's key name {name[:80]!r} is not a valid C2SP key name "
                             "(non-empty, no white space, no +)")
        sigs.append((name, raw[:4], raw[4:], line))
    return text, sigs

MAX_COSIGNATURE_TIME = 2**63 - 1

def cosignature_v1_verifies(pub, text, signature):
    """C2SP tlog-cosignature v1 over a note's text: `signature` (after the key id) is the 8-byte big-endian time, at
    most 2^63 - 1, and the Ed25519 signature of "cosignature/v1\\ntime <time>\\n" || text."""
    if len(signature) != 8 + 64:
        return False
    time = int.from_bytes(signature[:8], "big")
    message = f"cosignature/v1\ntime {time}\n{text}".encode("utf-8")
    return time <= MAX_COSIGNATURE_TIME and ed25519_verify(pub, message, signature[8:])
