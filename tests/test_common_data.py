import hashlib

import pytest

from common.data import EpochSeededSampler, download, read_sha256sums, verify_file
from common.errors import DataError, DataUnavailableError


def test_download_verifies_checksum(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"ecg" * 100)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = download(source.as_uri(), tmp_path / "cache" / "file.bin", sha256=digest)
    assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(DataError, match="Checksum mismatch"):
        download(source.as_uri(), tmp_path / "cache" / "other.bin", sha256="0" * 64)
    assert not (tmp_path / "cache" / "other.bin").exists()


def test_offline_download_says_what_to_fetch_and_where(tmp_path):
    dest = tmp_path / "ludb" / "RECORDS"
    with pytest.raises(DataUnavailableError) as error:
        download("http://127.0.0.1:9/ludb/RECORDS", dest, timeout=2)
    message = str(error.value)
    assert "http://127.0.0.1:9/ludb/RECORDS" in message and str(dest) in message and "data.root" in message


def test_sha256sums_parsing(tmp_path):
    path = tmp_path / "SHA256SUMS.txt"
    path.write_text(f"{'a' * 64} data/1.hea\n\n{'B' * 64} *RECORDS\n")
    assert read_sha256sums(path) == {"data/1.hea": "a" * 64, "RECORDS": "b" * 64}
    path.write_text("not a checksum line\n")
    with pytest.raises(DataError, match="SHA256SUMS.txt:1"):
        read_sha256sums(path)


def test_verify_missing_file(tmp_path):
    with pytest.raises(DataError, match="Missing data file"):
        verify_file(tmp_path / "nope", "0" * 64)


def test_epoch_seeded_sampler():
    sampler = EpochSeededSampler(10, seed=3)
    first = list(sampler)
    assert sorted(i for i, _ in first) == list(range(10))
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert [i for i, _ in EpochSeededSampler(4, seed=0, shuffle=False)] == [0, 1, 2, 3]
