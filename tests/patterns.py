"""Position-dependent test data, shared by the tests of every package.

A pattern is an endless byte stream per object. Its 8-byte word k (bytes
8k..8k+7) encodes the word's own absolute offset and the object's id:

    u    = k | object_id << 40                  (k < 2**40, object_id < 2**24)
    word = u XOR salt(object_id) XOR MASK[k mod 2**17]     (little-endian u64)

MASK is a fixed table of 2**17 random words (1 MiB) whose low 17 bits are
chosen so that a word's low 17 bits are a fixed permutation of k's; the salt
is a per-object value in bits 17..39. So `decode` reads (object id, offset)
back from a word alone, wherever it turns up, and the bytes look random (no
runs of zeros at small offsets; two objects differ in most bytes of a word).

So a chunk that is misplaced, missing, duplicated or reordered, or comes from
another object, changes the bytes (and every digest of them): no two words of
all patterns are equal. Unlike a repeated block, the stream never repeats
(not per KiB, not per MiB).

    pattern(size, obj, start)   bytes [start, start+size) of object `obj`
    PatternStream(size, obj)    a file-like reader of it (never whole in memory)
    split(data, sizes)          consecutive pieces of `data` (multipart parts)
    where(data)                 which object and offset `data` begins with
    assert_pattern(data, ...)   a readable message instead of a 100 MiB diff

`obj` is an int (< 2**24) or a label (str or bytes), hashed to an id.
"""

from __future__ import annotations

import functools
import hashlib
import random
import sys
from array import array
from collections.abc import Iterator, Sequence

WORD_BYTES = 8
_OFFSET_BITS = 40  # word index: patterns up to 8 TiB
_ID_BITS = 24
_MASK_BITS = 17  # 2**17 words: a 1 MiB mask
_MASK_WORDS = 1 << _MASK_BITS
_LOW = _MASK_WORDS - 1
# The most one PatternStream.read returns.
READ_BYTES_MAX = 1 << 20

Obj = int | str | bytes


def object_id(obj: Obj) -> int:
    """The 24-bit id of `obj`: an int as it is, a label hashed."""
    if isinstance(obj, int):
        assert 0 <= obj < 1 << _ID_BITS, obj
        return obj
    label = obj.encode() if isinstance(obj, str) else obj
    return int.from_bytes(hashlib.shake_256(b"pattern:" + label).digest(3), "little")


def _to_bytes(words: array[int]) -> bytes:
    if sys.byteorder != "little":
        words.byteswap()
    return words.tobytes()


def _make_tables() -> tuple[bytes, array[int], array[int]]:
    """MASK (as little-endian bytes and as words) and the inverse of the
    permutation of the low 17 bits."""
    perm = list(range(_MASK_WORDS))
    random.Random("tests.patterns").shuffle(perm)  # fixed: the same stream every run
    high = hashlib.shake_256(b"tests.patterns mask").digest(WORD_BYTES * _MASK_WORDS)
    keep_high = ((1 << 64) - 1 - _LOW).to_bytes(WORD_BYTES, "little") * _MASK_WORDS
    low = _to_bytes(array("Q", (p ^ r for r, p in enumerate(perm))))
    value = (int.from_bytes(high, "little") & int.from_bytes(keep_high, "little")) | (
        int.from_bytes(low, "little")
    )
    table = value.to_bytes(WORD_BYTES * _MASK_WORDS, "little")
    words = array("Q")
    words.frombytes(table)
    if sys.byteorder != "little":
        words.byteswap()
    inverse = array("Q", bytes(WORD_BYTES * _MASK_WORDS))
    for r, p in enumerate(perm):
        inverse[p] = r
    return table, words, inverse


# Built once (about 0.1 s): the same for every object.
_MASK_BYTES, _MASK, _INVERSE = _make_tables()


def _salt(ident: int) -> int:
    """Bits 17..39 that differ per object (so more than the top 3 bytes of a
    word tell objects apart); none of the bits `decode` reads first."""
    digest = hashlib.shake_256(b"salt %d" % ident).digest(WORD_BYTES)
    return int.from_bytes(digest, "little") & ((1 << _OFFSET_BITS) - 1) & ~_LOW


def _fold(ident: int) -> bytes:
    """What the object adds to every word (``ident << 40 | salt``)."""
    return (ident << _OFFSET_BITS | _salt(ident)).to_bytes(WORD_BYTES, "little")


@functools.lru_cache(maxsize=8)
def _object_mask(ident: int) -> int:
    """The whole MASK with the object folded into every word, as one int."""
    return int.from_bytes(_MASK_BYTES, "little") ^ int.from_bytes(
        _fold(ident) * _MASK_WORDS, "little"
    )


def _words(first: int, count: int, ident: int) -> bytes:
    """Words first..first+count-1 of object `ident`, as bytes."""
    assert 0 <= first and first + count <= 1 << _OFFSET_BITS
    if count == 0:
        return b""
    # k | ident << 40 == k XOR ident << 40: the object is in the mask.
    plain = int.from_bytes(_to_bytes(array("Q", range(first, first + count))), "little")
    rot = (first % _MASK_WORDS) * WORD_BYTES
    need = count * WORD_BYTES
    if rot == 0 and need == len(_MASK_BYTES):
        mask = _object_mask(ident)  # a whole aligned MiB: the common case of big bodies
    else:
        if rot + need <= len(_MASK_BYTES):
            piece = _MASK_BYTES[rot : rot + need]
        else:
            rotated = _MASK_BYTES[rot:] + _MASK_BYTES[:rot]
            piece = (rotated * (need // len(rotated) + 1))[:need]
        mask = int.from_bytes(piece, "little") ^ int.from_bytes(_fold(ident) * count, "little")
    return (plain ^ mask).to_bytes(need, "little")


def pattern(size: int, obj: Obj = 0, start: int = 0) -> bytes:
    """Bytes [start, start+size) of object `obj`'s pattern.

    Slices agree: ``pattern(n, o, s)[i:j] == pattern(j - i, o, s + i)``.
    """
    assert size >= 0 and start >= 0
    first = start // WORD_BYTES
    last = (start + size + WORD_BYTES - 1) // WORD_BYTES
    skip = start - first * WORD_BYTES
    return _words(first, last - first, object_id(obj))[skip : skip + size]


def chunks(size: int, obj: Obj = 0, chunk_bytes: int = 1 << 20, start: int = 0) -> Iterator[bytes]:
    """`pattern(size, obj, start)` in pieces of at most `chunk_bytes`."""
    assert chunk_bytes > 0
    for offset in range(start, start + size, chunk_bytes):
        yield pattern(min(chunk_bytes, start + size - offset), obj, offset)


def split(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """`data` cut into consecutive pieces of `sizes` (they must add up)."""
    assert sum(sizes) == len(data), (sum(sizes), len(data))
    out, offset = [], 0
    for size in sizes:
        out.append(data[offset : offset + size])
        offset += size
    return out


def decode(word: bytes) -> tuple[int, int]:
    """(object id, absolute offset) that one 8-byte word of a pattern encodes."""
    assert len(word) == WORD_BYTES
    value = int.from_bytes(word, "little")
    unmasked = value ^ _MASK[_INVERSE[value & _LOW]]
    ident = unmasked >> _OFFSET_BITS
    k = (unmasked ^ _salt(ident)) & ((1 << _OFFSET_BITS) - 1)
    return ident, k * WORD_BYTES


def where(data: bytes) -> str:
    """Which pattern bytes `data` begins with, e.g. ``object 0x1a2b3c offset
    64``: the alignment at which two whole words in a row decode to one object
    at consecutive offsets (16 bytes or more are needed to tell)."""
    for skip in range(WORD_BYTES):
        second = data[skip + WORD_BYTES : skip + 2 * WORD_BYTES]
        if len(second) < WORD_BYTES:
            break
        ident, offset = decode(data[skip : skip + WORD_BYTES])
        if decode(second) == (ident, offset + WORD_BYTES) and offset >= skip:
            return f"object {ident:#08x} offset {offset - skip}"
    return "no pattern's bytes"


def assert_pattern(data: bytes, obj: Obj = 0, start: int = 0, size: int | None = None) -> None:
    """Assert `data` is `pattern(size, obj, start)` (size: len(data)); the
    message says where the first wrong byte is and what is there instead,
    not a diff of megabytes."""
    size = len(data) if size is None else size
    want = pattern(size, obj, start)
    if data == want:
        return
    n = min(len(data), len(want))
    block = 4096
    at = next((i for i in range(0, n, block) if data[i : i + block] != want[i : i + block]), n)
    at = next((i for i in range(at, min(n, at + block)) if data[i] != want[i]), n)
    raise AssertionError(
        f"{len(data)} bytes where {size} of object {object_id(obj):#08x} from offset {start} "
        f"were expected; first difference at byte {at} (offset {start + at}), where "
        f"the bytes are {where(data[at:])}"
    )


class PatternStream:
    """A file-like body of `size` bytes of `obj`'s pattern, made as it is read
    (never whole in memory): read, seek, tell, and `md5` of the whole."""

    def __init__(self, size: int, obj: Obj = 0) -> None:
        self.size = size
        self.obj = obj
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (all that is left if n < 0), at most 1 MiB per call."""
        if n is None or n < 0:
            n = self.size - self.pos
        n = max(0, min(n, self.size - self.pos, READ_BYTES_MAX))
        out = pattern(n, self.obj, self.pos)
        self.pos += n
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def md5(self) -> str:
        h = hashlib.md5()
        for chunk in chunks(self.size, self.obj):
            h.update(chunk)
        return h.hexdigest()
