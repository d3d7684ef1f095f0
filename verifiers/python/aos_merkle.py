r"""RFC 6962 / RFC 9162 Merkle trees: the tree hash, inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4), and
a reader of a C2SP tlog-tiles directory (https://c2sp.org/tlog-tiles) to compute proofs from. Python standard
library only.

  leaf hash      SHA-256(0x00 || entry)           interior node   SHA-256(0x01 || left || right)
  MTH(D[n])      n > 1 leaves split at k, the largest power of two smaller than n: MTH(D[0:k]) and MTH(D[k:n])
"""
import hashlib, os

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

def consistency_roots(first, second, path, first_root):
    """The roots (fr, sr) RFC 9162 §2.1.4.2 folds `path` into for 0 < first < second, `first_root` prepended when
    `first` is a power of two; None when the path is not of the proof's shape. Every path hash feeds sr, so sr
    equal to the second tree's root authenticates them all, and then fr is that tree's root at size `first`."""
    if first & (first - 1) == 0:  # a power of two: the old root is a node of the new tree, not in the path
        path = [first_root] + path
    if not path:
        return None
    fn, sn = first - 1, second - 1
    while fn & 1:  # step 4: past the levels where the old tree's last node is a right child
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return (fr, sr) if sn == 0 else None

def consistency_verifies(first, second, first_root, second_root, path):
    """RFC 9162 §2.1.4.2: `path` proves the tree of `first` leaves with `first_root` is a prefix of the tree of
    `second` leaves with `second_root`. A tree of 0 leaves (root SHA-256()) is a prefix of every tree."""
    if first > second:
        return False
    if first == 0:
        return first_root == EMPTY_ROOT and path == []
    if first == second:
        return path == [] and first_root == second_root
    return consistency_roots(first, second, path, first_root) == (first_root, second_root)

def consistency_proof(m, n, mth):
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) for 0 < m <= n, with mth(start, end) the tree hash of D[start:end]."""
    def subproof(m, start, end, complete):
        if m == end - start:
            return [] if complete else [mth(start, end)]
        k = _split(end - start)
        if m <= k:
            return subproof(m, start, start + k, complete) + [mth(start + k, end)]
        return subproof(m - k, start + k, end, False) + [mth(start, start + k)]
    return subproof(m, 0, n, True)

# ---------------------------------------------------------------- C2SP tlog-tiles
TILE_WIDTH = 256  # hashes in a full tile; a tile at level L holds tree level 8L's hashes
HASH = 32

class TileError(Exception):
    """A tile the proof needs is missing or is not the size its path says."""

def tile_index_path(n):
    """N in zero-padded 3-digit path elements, all but the last prefixed with x: 1234067 -> x001/x234/067."""
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    return "/".join(["x" + g for g in reversed(groups[1:])] + [groups[0]])

def tile_path(level, n, width=None):
    """tile/<L>/<N>[.p/<W>], for a full tile (width None or 256) or a partial one of 1 to 255 hashes."""
    suffix = "" if width in (None, TILE_WIDTH) else f".p/{width}"
    return f"tile/{level}/{tile_index_path(n)}{suffix}"

class TileReader:
    """The tree of `size` leaves read from a tiles directory. A node (height h, index i) is folded from the
    2^(h mod 8) hashes of tree level 8*floor(h/8) below it, all in one tile. Each tile is read as the tree of `size`
    has it: full when its 256 hashes are complete, else the partial tile of the width `size` gives; a partial tile
    that is gone may be read from the full tile or a wider partial one (their first hashes are the same subtrees)."""

    def __init__(self, root_dir, size):
        self.root_dir, self.size, self.tiles = root_dir, size, {}

    def _tile(self, level, n):
        if (level, n) not in self.tiles:
            available = self.size // TILE_WIDTH ** level  # hashes of tree level 8*level that are complete
            width = min(TILE_WIDTH, available - n * TILE_WIDTH)
            if width <= 0 or level > 63:
                raise TileError(f"no tile {tile_path(level, n)} in a tree of {self.size} entries")
            candidates = [width] + list(range(width + 1, TILE_WIDTH + 1))[::-1] if width < TILE_WIDTH else [width]
            for w in candidates:
                path = os.path.join(self.root_dir, *tile_path(level, n, w).split("/"))
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                except OSError as e:
                    raise TileError(f"cannot read {tile_path(level, n, w)}: {e.strerror}")
                if len(data) != w * HASH:
                    raise TileError(f"{tile_path(level, n, w)} holds {len(data)} bytes, not {w} hashes of 32 bytes")
                self.tiles[(level, n)] = data[:width * HASH]
                break
            else:
                raise TileError(f"the tile {tile_path(level, n, width)} is missing (nor is a wider one there)")
        return self.tiles[(level, n)]

    def node(self, height, index):
        """MTH of the complete subtree D[index * 2^height : (index + 1) * 2^height]."""
        level, rest = divmod(height, 8)
        first = index << rest  # its first hash at tree level 8 * level
        tile = self._tile(level, first // TILE_WIDTH)
        at = first % TILE_WIDTH
        hashes = [tile[i * HASH:(i + 1) * HASH] for i in range(at, at + (1 << rest))]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def mth(self, start, end):
        """MTH(D[start:end]) for a range the RFC 6962 recursion reaches: a complete aligned subtree is one node."""
        size = end - start
        if size & (size - 1) == 0 and start % size == 0:
            return self.node(size.bit_length() - 1, start // size)
        k = _split(size)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))
