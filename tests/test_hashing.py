"""The one file sha256 (`embedlab.hashing.file_sha256`) against the published FIPS 180-2 test vectors."""

from __future__ import annotations

import pytest

from embedlab.hashing import file_sha256


@pytest.mark.parametrize("content, digest", [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    # one million 'a': larger than one read block, so the blocks are chained
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
])
def test_file_sha256_matches_the_fips_vectors(tmp_path, content, digest):
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    assert file_sha256(path) == digest
    assert file_sha256(str(path)) == digest
