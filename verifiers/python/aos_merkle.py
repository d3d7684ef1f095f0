r"""RFC 6962 / RFC 9162 Merkle trees: the tree hash and inclusion proofs (RFC 9162 §2.1.3). Python standard library
only.

  leaf hash      SHA-256(0x00 || entry)           interior node   SHA-256(0x01 || left || right)
  MTH(D[n])      n > 1 leaves split at k, the largest power of two smaller than n: MTH(D[0:k]) and MTH(D[k:n])
"""
import hashlib

def sha(b):
    return hashlib.sha256(b).digest()

def leaf_hash(entry):
    return sha(b"\x00" + entry)

def node_hash(left, right):
    return sha(b"\x01" + left + right)

EMPTY_ROOT = sha(b"")  # MTH({}) = SHA-256() (RFC 6962 §2.1)

def _split(n):  # the largest power of two strictly smaller than n (n >= 2)
    return 1 << ((n - 1).bit_length() - 1)

def merkle_root(leaves):
    """MTH over leaf hashes (at least one)."""
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))

def _shift_while_even(fn, sn):  # right-shift both until fn's least significant bit is set, or fn is 0
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn

def inclusion_verifies(index, size, leaf, path, root):
    """RFC 9162 §2.1.3.2: the audit path `path` proves `leaf` is at `index` of the tree of `size` with `root`."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root
