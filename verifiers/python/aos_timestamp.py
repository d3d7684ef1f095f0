r"""An RFC 3161 TimeStampToken read as docs/timestamps.md's steps 1 to 3 ("What is checked offline") say, with a DER
reader of its own, to find its message imprint. Python standard library only.

 1. Strict DER throughout, certificates and attributes included: every length definite and in its shortest form,
    every constructed value exactly filled by its elements, no byte left over, INTEGERs minimal, BOOLEANs 00 or FF,
    NULLs empty, OBJECT IDENTIFIERs well formed, BIT STRINGs with their unused bits zero, times in their DER form,
    universal string and time types primitive. (Not checked: that SET OF elements are in DER's sorted order.)
 2. The CMS envelope (RFC 5652 §5): ContentInfo { id-signedData, [0] SignedData { version 3, digestAlgorithms,
    encapContentInfo { id-ct-TSTInfo, [0] OCTET STRING }, [0] certificates, [1] crls, signerInfos } }, the
    certificates and crls each of a type RFC 5652 lists, exactly one SignerInfo (RFC 3161 §2.4.2) whose version
    matches its signer identifier (1: issuer Name and serial number, 3: subject key identifier), whose digest algorithm
    is one of digestAlgorithms, which carries signed attributes (RFC 5652 §5.3: the content is not id-data), and
    whose attributes are each { type, SET of at least one value } and signature algorithm an AlgorithmIdentifier.
 3. The TSTInfo (RFC 3161 §2.4.2): version 1, a policy, the message imprint { AlgorithmIdentifier, OCTET STRING },
    a serial number, genTime a DER GeneralizedTime naming a real instant, then in order and each at most once:
    accuracy { seconds >= 0, [0] millis 1..999, [1] micros 1..999 }, ordering (DER: only ever TRUE), nonce,
    [0] tsa (one GeneralName), [1] extensions, none of them critical.

Not checked (steps 4 to 8): the signer's certificate, the signed attributes' values (nor that each type appears
once), the signature and its algorithm, the TSA's certificate and its path to a trusted one. Without them the token
proves nothing about time; its imprint is what binds it to the checkpoint.
"""
import datetime, re

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"

SEQUENCE, SET, INTEGER, BOOLEAN, NULL, OID, OCTETS, BITS = 0x30, 0x31, 0x02, 0x01, 0x05, 0x06, 0x04, 0x03
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18
# Universal types that DER encodes primitive only: every string type and the times.
PRIMITIVE_ONLY = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1a, 0x1c,
                  0x1e}
ANY = 1 << 30  # no upper bound on a SET OF's or SEQUENCE OF's elements

class DerError(ValueError):
    pass

class Tlv:
    __slots__ = ("tag", "content", "children")

    def __init__(self, tag, content):
        self.tag, self.content, self.children = tag, content, None

def _read_one(data, at, limit):
    """One TLV at `at`, ending at or before `limit` -> (tag byte, content start, content end)."""
    if at + 2 > limit:
        raise DerError("a value is cut short")
    tag, first = data[at], data[at + 1]
    if tag & 0x1f == 0x1f:
        raise DerError("a high tag number (not used in a timestamp token)")
    at += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("an indefinite length (BER, not DER)")
    else:
        count = first & 0x7f
        if count > 4 or at + count > limit:
            raise DerError("a length that does not fit")
        raw = data[at:at + count]
        length, at = int.from_bytes(raw, "big"), at + count
        if raw[0] == 0 or length < 0x80:
            raise DerError("a length not in its shortest form")
    if at + length > limit:
        raise DerError("a value longer than what holds it")
    return tag, at, at + length

def _check_primitive(tag, c):
    if tag == INTEGER and (not c or (len(c) > 1 and (c[0] == 0 and c[1] < 0x80 or c[0] == 0xff and c[1] >= 0x80))):
        raise DerError("an INTEGER that is empty or not minimal")
    if tag == BOOLEAN and c not in (b"\x00", b"\xff"):
        raise DerError("a BOOLEAN that is not 00 or FF")
    if tag == NULL and c:
        raise DerError("a NULL with content")
    if tag == OID and (not c or c[-1] & 0x80 or any(
            b == 0x80 and (i == 0 or not c[i - 1] & 0x80) for i, b in enumerate(c))):
        raise DerError("a malformed OBJECT IDENTIFIER")
    if tag == BITS and (not c or c[0] > 7 or (len(c) == 1 and c[0]) or (len(c) > 1 and c[-1] & ((1 << c[0]) - 1))):
        raise DerError("a malformed BIT STRING")
    if tag == UTC_TIME and not re.fullmatch(rb"[0-9]{12}Z", c):
        raise DerError("a UTCTime not in its DER form YYMMDDHHMMSSZ")
    if tag == GENERALIZED_TIME and not re.fullmatch(rb"[0-9]{14}(\.[0-9]*[1-9])?Z", c):
        raise DerError("a GeneralizedTime not in its DER form YYYYMMDDHHMMSS[.f]Z")

def parse_der(data):
    """The strict DER tree of `data`, which must be exactly one value. Iterative: a token may nest deeply."""
    tag, start, end = _read_one(data, 0, len(data))
    if end != len(data):
        raise DerError("bytes left over after the value")
    root = Tlv(tag, data[start:end])
    stack = [(root, start, end)]
    while stack:
        node, start, end = stack.pop()
        if node.tag & 0x20:  # constructed: its elements fill it exactly
            if node.tag & 0xc0 == 0 and node.tag & 0x1f in PRIMITIVE_ONLY:
                raise DerError("a constructed string or time (BER, not DER)")
            node.children, at = [], start
            while at < end:
                tag, cstart, cend = _read_one(data, at, end)
                child = Tlv(tag, data[cstart:cend])
                node.children.append(child)
                stack.append((child, cstart, cend))
                at = cend
        elif node.tag & 0xc0 == 0:
            _check_primitive(node.tag, node.content)
    return root

def oid_text(c):
    arcs, value = [], 0
    for b in c:
        value = value << 7 | b & 0x7f
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first] + arcs[1:]))

def _fail(what):
    raise DerError(what)

def _one(node, tag, what):
    if node is None or node.tag != tag:
        _fail(f"{what} is missing or of another type")
    return node

def _elements(node, tag, what, lo, hi=None):
    """The elements of a constructed value of `tag`, between lo and hi of them."""
    children = _one(node, tag, what).children
    if not lo <= len(children) <= (lo if hi is None else hi):
        _fail(f"{what} does not have the elements it should")
    return children

def _int(node, what, tag=INTEGER):
    c = _one(node, tag, what).content
    if tag != INTEGER:  # an IMPLICIT INTEGER: the generic walk did not see it as one
        _check_primitive(INTEGER, c)
    return int.from_bytes(c, "big", signed=True)

def _optional(fields, order, what):
    """Trailing optional fields: each of a tag in `order`, in that order, each at most once -> {tag: node}."""
    tags = [f.tag for f in fields]
    if [t for t in order if t in tags] != tags:
        _fail(f"{what}'s optional fields are not in their order, or of another type")
    return {f.tag: f for f in fields}

def _algorithm(node, what):
    """An AlgorithmIdentifier { OID, parameters absent or NULL } -> its OID."""
    fields = _elements(node, SEQUENCE, what, 1, 2)
    if len(fields) == 2 and fields[1].tag != NULL:
        _fail(f"{what}'s parameters are not NULL")
    return oid_text(_one(fields[0], OID, f"{what}'s OID").content)

def _gen_time(node):
    m = re.fullmatch(rb"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})(\.[0-9]+)?Z",
                     _one(node, GENERALIZED_TIME, "genTime").content)
    try:
        datetime.datetime(*map(int, m.groups()[:6]))
    except (AttributeError, ValueError):  # no match, or not a real date or time
        _fail("genTime names no real instant")

def signed_data(token):
    """Step 2: the SignedData's encapsulated TSTInfo DER."""
    content_type, content = _elements(parse_der(token), SEQUENCE, "the ContentInfo", 2)
    if oid_text(_one(content_type, OID, "the content type").content) != OID_SIGNED_DATA:
        _fail("the content type is not id-signedData")
    (sd,) = _elements(content, 0xa0, "the [0] content", 1)
    fields = _elements(sd, SEQUENCE, "the SignedData", 4, 6)
    if _int(fields[0], "the SignedData version") != 3:
        _fail("the SignedData version is not 3")
    listed = [_algorithm(a, "a digest algorithm") for a in _elements(fields[1], SET, "the digestAlgorithms", 0, ANY)]
    e_type, e_content = _elements(fields[2], SEQUENCE, "the encapsulated content", 2)
    if oid_text(_one(e_type, OID, "the encapsulated content type").content) != OID_TST_INFO:
        _fail("the encapsulated content is not id-ct-TSTInfo")
    (octets,) = _elements(e_content, 0xa0, "the [0] eContent", 1)
    *middle, signer_infos = fields[3:]
    sets = _optional(middle, [0xa0, 0xa1], "the SignedData")
    for tag, allowed, what in [(0xa0, {SEQUENCE, 0xa0, 0xa1, 0xa2, 0xa3}, "a certificate"),
                               (0xa1, {SEQUENCE, 0xa1}, "a revocation list")]:
        if any(c.tag not in allowed for c in (sets[tag].children if tag in sets else [])):
            _fail(f"{what} is of a type RFC 5652 does not list")
    (signer,) = _elements(signer_infos, SET, "the signerInfos (exactly one)", 1)
    version, sid, digest, *rest = _elements(signer, SEQUENCE, "the SignerInfo", 5, 7)
    if (_int(version, "the SignerInfo version"), sid.tag) not in ((1, SEQUENCE), (3, 0x80)):
        _fail("the SignerInfo's version does not match its signer identifier")
    if sid.tag == SEQUENCE:  # IssuerAndSerialNumber { issuer Name, serialNumber }
        issuer, serial = _elements(sid, SEQUENCE, "the signer's issuer and serial number", 2)
        _one(issuer, SEQUENCE, "the signer's issuer")
        _int(serial, "the signer's serial number")
    if _algorithm(digest, "the SignerInfo's digest algorithm") not in listed:
        _fail("the SignerInfo's digest algorithm is not one of the digestAlgorithms")
    if not rest or rest[0].tag != 0xa0:
        _fail("the SignerInfo carries no signed attributes")
    if len(rest) < 3 or rest[2].tag != OCTETS or (len(rest) == 4 and rest[3].tag != 0xa1):
        _fail("the SignerInfo's signature algorithm, signature and unsigned attributes are not in their places")
    _one(_elements(rest[1], SEQUENCE, "the signature algorithm", 1, 2)[0], OID, "the signature algorithm's OID")
    for attributes in [rest[0]] + rest[3:]:  # SET SIZE (1..MAX) OF Attribute { type, SET OF value }
        for attribute in _elements(attributes, attributes.tag, "the SignerInfo's attributes", 1, ANY):
            kind, values = _elements(attribute, SEQUENCE, "an attribute", 2)
            _one(kind, OID, "an attribute's type")
            _elements(values, SET, "an attribute's values", 1, ANY)
    return _one(octets, OCTETS, "the eContent OCTET STRING").content

def message_imprint(token):
    """Steps 1 to 3 -> (hash algorithm OID, hashed message) of the token's TSTInfo; DerError if it is not one."""
    fields = _elements(parse_der(signed_data(token)), SEQUENCE, "the TSTInfo", 5, 10)
    if _int(fields[0], "the TSTInfo version") != 1:
        _fail("the TSTInfo version is not 1")
    _one(fields[1], OID, "the TSTInfo policy")
    algorithm, hashed = _elements(fields[2], SEQUENCE, "the message imprint", 2)
    _int(fields[3], "the serial number")
    _gen_time(fields[4])
    optional = _optional(fields[5:], [SEQUENCE, BOOLEAN, INTEGER, 0xa0, 0xa1], "the TSTInfo")
    if SEQUENCE in optional:
        accuracy = _optional(optional[SEQUENCE].children, [INTEGER, 0x80, 0x81], "the accuracy")
        for tag, lo, hi, what in [(INTEGER, 0, None, "seconds"), (0x80, 1, 999, "millis"), (0x81, 1, 999, "micros")]:
            value = _int(accuracy[tag], f"the accuracy's {what}", tag) if tag in accuracy else lo
            if value < lo or (hi is not None and value > hi):
                _fail(f"the accuracy's {what} is out of range")
    if BOOLEAN in optional and optional[BOOLEAN].content != b"\xff":
        _fail("ordering is FALSE, which DER leaves out")
    if 0xa0 in optional:
        (name,) = _elements(optional[0xa0], 0xa0, "the tsa field", 1)
        if name.tag & 0xc0 != 0x80 or name.tag & 0x1f > 8:
            _fail("the tsa field is not a GeneralName")
    if 0xa1 in optional:
        for extension in _elements(optional[0xa1], 0xa1, "the extensions", 1, ANY):
            fields_ = _elements(extension, SEQUENCE, "an extension", 2, 3)
            _one(fields_[0], OID, "an extension's OID")
            _one(fields_[-1], OCTETS, "an extension's value")
            if len(fields_) == 3:  # DER leaves out critical FALSE, so a present one is TRUE
                _fail("the TSTInfo has a critical extension")
    return _algorithm(algorithm, "the imprint's algorithm"), _one(hashed, OCTETS, "the hashed message").content
