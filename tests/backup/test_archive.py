"""The archive format: every kind of damage to a backup file is detected, never restored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from v11ops.backup.archive import CHUNK_BYTES, MAGIC, ArchiveWriter, read_archive
from v11ops.backup.errors import IntegrityError
from v11ops.backup.keys import BackupKey, parse_key

# Incompressible, so the encrypted file has three chunks (two full, one final).
DATA = os.urandom(2 * CHUNK_BYTES + 12345)
HEADER = len(MAGIC) + 4 + 16
STEP = CHUNK_BYTES + 16


def _write(path: Path, key: BackupKey | None, data: bytes = DATA) -> Path:
    writer = ArchiveWriter(path, key, level=1)
    for i in range(0, len(data), 100_000):
        writer.write(data[i : i + 100_000])
    writer.close()
    return path


def _read(path: Path, key: BackupKey | None) -> bytes:
    return b"".join(read_archive(path, key))


def test_round_trip_encrypted_and_plain(tmp_path: Path, key: BackupKey) -> None:
    assert _read(_write(tmp_path / "a.zst.enc", key), key) == DATA
    assert _read(_write(tmp_path / "b.zst", None), None) == DATA
    assert _read(_write(tmp_path / "empty.zst.enc", key, b""), key) == b""
    assert (tmp_path / "a.zst.enc").read_bytes()[:8] == MAGIC
    assert DATA[:64] not in (tmp_path / "a.zst.enc").read_bytes(), "no plaintext in the file"


@pytest.mark.parametrize(
    "offset",
    [0, 9, HEADER - 1, HEADER, HEADER + STEP // 2, HEADER + STEP - 1, HEADER + STEP, -17, -1],
    ids=[
        "magic",
        "chunk-size",
        "salt",
        "chunk0-start",
        "chunk0-middle",
        "chunk0-tag",
        "chunk1-start",
        "final-chunk-body",
        "final-tag",
    ],
)
def test_a_flipped_byte_anywhere_in_an_encrypted_file_is_detected(
    tmp_path: Path, key: BackupKey, offset: int
) -> None:
    path = _write(tmp_path / "f.zst.enc", key)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(raw)
    with pytest.raises(IntegrityError):
        _read(path, key)


CUTS = {
    "at-chunk-boundary-2": lambda n: HEADER + 2 * STEP,
    "at-chunk-boundary-1": lambda n: HEADER + STEP,
    "last-byte": lambda n: n - 1,
    "header-only": lambda n: HEADER,
    "in-header": lambda n: 5,
    "empty": lambda n: 0,
}


@pytest.mark.parametrize("cut", CUTS)
def test_a_truncated_encrypted_file_is_refused(tmp_path: Path, key: BackupKey, cut: str) -> None:
    path = _write(tmp_path / "t.zst.enc", key)
    raw = path.read_bytes()
    path.write_bytes(raw[: CUTS[cut](len(raw))])
    with pytest.raises(IntegrityError):
        _read(path, key)


def test_reordered_dropped_or_renamed_chunks_are_refused(tmp_path: Path, key: BackupKey) -> None:
    path = _write(tmp_path / "r.zst.enc", key)
    raw = path.read_bytes()
    head, rest = raw[:HEADER], raw[HEADER + 2 * STEP :]
    c0, c1 = raw[HEADER : HEADER + STEP], raw[HEADER + STEP : HEADER + 2 * STEP]
    for damaged in (head + c1 + c0 + rest, head + c0 + rest, head + c0 + c1 + c1 + rest):
        path.write_bytes(damaged)
        with pytest.raises(IntegrityError, match="authentication"):
            _read(path, key)
    path.write_bytes(raw)
    moved = path.rename(tmp_path / "other-name.zst.enc")  # the file name is authenticated too
    with pytest.raises(IntegrityError):
        _read(moved, key)


def test_a_wrong_key_is_refused(tmp_path: Path, key: BackupKey) -> None:
    path = _write(tmp_path / "k.zst.enc", key)
    other = parse_key(os.urandom(32).hex(), "other")
    with pytest.raises(IntegrityError, match="another key"):
        _read(path, other)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damage_to_an_unencrypted_file_is_detected_by_the_zstd_checksum(
    tmp_path: Path, damage: str
) -> None:
    path = _write(tmp_path / "p.zst", None, b"ledger page " * 200_000)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x40
    else:
        del raw[-100:]
    path.write_bytes(raw)
    with pytest.raises(IntegrityError):
        _read(path, None)
