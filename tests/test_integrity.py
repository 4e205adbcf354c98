"""hamster.integrity: the checksum algorithms, incremental hashing, the value type."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hamster import integrity
from hamster.integrity import ChecksumValue
from hamster.s3.errors import S3Error
from tests.patterns import pattern

# The check values of the algorithms: each digest of b"123456789".
CHECK = b"123456789"
CHECK_VALUES = {
    "CRC32": "cbf43926",
    "CRC32C": "e3069283",
    "CRC64NVME": "ae8b14860a799888",
    "SHA1": "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
    "SHA256": "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
}
# The digests of the empty string.
EMPTY_VALUES = {
    "CRC32": "00000000",
    "CRC32C": "00000000",
    "CRC64NVME": "0000000000000000",
    "SHA1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "SHA256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}


def test_algorithms_are_s3s() -> None:
    assert integrity.ALGORITHMS == ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
    assert integrity.DEFAULT_ALGORITHM == "CRC64NVME"


@pytest.mark.parametrize("algorithm", sorted(CHECK_VALUES))
def test_check_values(algorithm: str) -> None:
    assert integrity.compute(algorithm, CHECK).hex() == CHECK_VALUES[algorithm]
    assert integrity.compute(algorithm, b"").hex() == EMPTY_VALUES[algorithm]
    assert len(integrity.compute(algorithm, CHECK)) == integrity.DIGEST_BYTES[algorithm]


@pytest.mark.parametrize("algorithm", sorted(CHECK_VALUES))
def test_large_buffer_matches_pieces(algorithm: str) -> None:
    data = pattern(2 * (1 << 20) + 4, "integrity")  # 2 MiB + 4: the C paths for big buffers
    hasher = integrity.new_hasher(algorithm)
    for start in range(0, len(data), 1 << 20):
        hasher.update(data[start : start + (1 << 20)])
    assert hasher.digest() == integrity.compute(algorithm, data)


def test_unknown_algorithm_has_no_hasher() -> None:
    with pytest.raises(ValueError):
        integrity.new_hasher("MD4")


@given(
    algorithm=st.sampled_from(integrity.ALGORITHMS),
    data=st.binary(max_size=4096),
    cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=8),
)
def test_incremental_equals_one_shot(algorithm: str, data: bytes, cuts: list[int]) -> None:
    hasher = integrity.new_hasher(algorithm)
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        hasher.update(data[start:end])  # empty pieces included
    assert hasher.digest() == integrity.compute(algorithm, data)


def test_checksum_value() -> None:
    value = ChecksumValue("CRC32", bytes.fromhex("cbf43926"))
    assert value.type == "FULL_OBJECT"
    assert value.header_name == "x-amz-checksum-crc32"
    assert value.b64 == "y/Q5Jg=="
    with pytest.raises(AssertionError):
        ChecksumValue("CRC32", b"\x00" * 8)
    with pytest.raises(AssertionError):
        ChecksumValue("MD5", b"\x00" * 16)


def test_check() -> None:
    digest = integrity.compute("SHA1", CHECK)
    integrity.check("SHA1", digest, digest)
    with pytest.raises(S3Error) as e:
        integrity.check("SHA1", digest, integrity.compute("SHA1", b"other"))
    assert (e.value.code, e.value.status) == ("BadDigest", 400)
    assert e.value.text == "The SHA1 you specified did not match the calculated checksum."
