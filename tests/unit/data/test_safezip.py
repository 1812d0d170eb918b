"""Hostile archives: nothing is written outside the extraction folder, and the folder goes on refusal."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from deepfeat.data.errors import DataError
from deepfeat.data.safezip import safe_extract
from tests import datafiles

PNG = datafiles.png_bytes((1, 2, 3))


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([("a/ok.png", PNG), ("../evil.png", PNG)], "'..' would write outside"),
        ([("a/ok.png", PNG), ("a/../../evil.png", PNG)], "'..' would write outside"),
        ([("/tmp/evil.png", PNG)], "absolute paths are not allowed"),
        ([("C:/evil.png", PNG)], "absolute paths are not allowed"),
        ([("a\\..\\..\\evil.png", PNG)], "backslashes"),
        ([("a/ok.png", PNG), datafiles.symlink_entry("a/link.png", "/etc/passwd")], "links are not allowed"),
        ([datafiles.device_entry("a/dev")], "devices, pipes and sockets"),
    ],
)
def test_hostile_entries_write_nothing(tmp_path: Path, entries: list, words: str) -> None:  # type: ignore[type-arg]
    archive = tmp_path / "in" / "evil.zip"
    archive.parent.mkdir()
    archive.write_bytes(datafiles.zip_with(entries))
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    before = tree(tmp_path)
    with pytest.raises(DataError, match=words.replace("(", r"\(")) as info:
        safe_extract(archive, sandbox / "x", max_bytes=1 << 20, max_files=100)
    assert info.value.body()["entry"]
    assert tree(tmp_path) == before  # not even the good entries, nor the folder itself
    assert not Path("/tmp/evil.png").exists()


def test_bomb_stops_at_the_byte_cap_counted_on_real_bytes(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(datafiles.bomb_zip(megabytes=64))
    assert archive.stat().st_size < 1 << 20  # tiny on the wire
    with pytest.raises(DataError, match="expands past the limit of 8388608 bytes"):
        safe_extract(archive, tmp_path / "x", max_bytes=8 << 20, max_files=10)
    assert not (tmp_path / "x").exists()


def test_lying_header_sizes_do_not_fool_the_cap(tmp_path: Path) -> None:
    """An entry whose header claims a tiny size still counts what really comes out."""
    archive = tmp_path / "liar.zip"
    archive.write_bytes(datafiles.bomb_zip(megabytes=4))
    raw = bytearray(archive.read_bytes())
    # Patch the central directory's uncompressed size (offset 24 in its record) to 10 bytes.
    at = raw.rfind(b"PK\x01\x02")
    raw[at + 24 : at + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataError):
        safe_extract(archive, tmp_path / "x", max_bytes=1 << 20, max_files=10)
    assert not (tmp_path / "x").exists()


def test_file_count_cap(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    archive.write_bytes(datafiles.zip_with([(f"a/{i}.png", PNG) for i in range(11)]))
    with pytest.raises(DataError, match="more than 10 files"):
        safe_extract(archive, tmp_path / "x", max_bytes=1 << 20, max_files=10)
    assert not (tmp_path / "x").exists()


def test_good_archive_extracts_inside(tmp_path: Path) -> None:
    archive = tmp_path / "ok.zip"
    archive.write_bytes(
        datafiles.zip_with([("a/1.png", PNG), ("b/2.png", PNG), (zipfile.ZipInfo("c/"), b"")])
    )
    files = safe_extract(archive, tmp_path / "x", max_bytes=1 << 20, max_files=10)
    assert sorted(p.relative_to(tmp_path / "x").as_posix() for p in files) == ["a/1.png", "b/2.png"]
