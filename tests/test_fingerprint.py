"""common.fingerprint: a changed, restored, added or removed file changes the key."""
import os

from common.fingerprint import files_fingerprint, folder_fingerprint


def test_a_changed_restored_added_or_removed_file_changes_the_key(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"1234")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.wav").write_bytes(b"56")
    first = folder_fingerprint(tmp_path)
    assert folder_fingerprint(tmp_path) == first
    (tmp_path / "a.wav").write_bytes(b"12")  # truncated
    truncated = folder_fingerprint(tmp_path)
    assert truncated != first
    (tmp_path / "a.wav").write_bytes(b"1234")  # restored: same size, a new modification time
    os.utime(tmp_path / "a.wav", ns=(1, 1))
    assert folder_fingerprint(tmp_path) not in (first, truncated)
    (tmp_path / "c.wav").write_bytes(b"")
    added = folder_fingerprint(tmp_path)
    (tmp_path / "c.wav").unlink()
    assert added != folder_fingerprint(tmp_path)
    assert files_fingerprint([tmp_path / "gone"]) != files_fingerprint([tmp_path / "a.wav"])
