"""Extract a ZIP without trusting it: no `..`, no absolute paths, no links or devices, and caps on files
and bytes counted on what is really written (a header's declared size is never believed)."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from deepfeat.data.errors import DataError

CHUNK = 1 << 16
# What reading a damaged archive can raise in the standard library (UnicodeDecodeError is a ValueError;
# NotImplementedError: an unknown method or "zip file version").
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, NotImplementedError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_parts(name: str) -> tuple[str, ...]:
    if "\\" in name or "\x00" in name:
        raise DataError(f"entry {name!r}: backslashes and NUL are not allowed in names", entry=name)
    if name.startswith("/") or _DRIVE.match(name):
        raise DataError(f"entry {name!r}: absolute paths are not allowed", entry=name)
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise DataError(f"entry {name!r}: '..' would write outside the archive's folder", entry=name)
    return tuple(p for p in parts if p not in ("", "."))


def _check_type(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise DataError(f"entry {info.filename!r}: links are not allowed", entry=info.filename)
    if any(check(mode) for check in (stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO, stat.S_ISSOCK)):
        raise DataError(
            f"entry {info.filename!r}: devices, pipes and sockets are not allowed", entry=info.filename
        )
    if info.flag_bits & 0x1:
        raise DataError(f"entry {info.filename!r}: encrypted entries are not supported", entry=info.filename)


def safe_extract(archive_path: Path, dest: Path, max_bytes: int, max_files: int) -> list[Path]:
    """Extract into `dest` (created, must not exist) and return the files; on any refusal `dest` is
    removed and nothing was written anywhere else."""
    dest.mkdir(parents=True)
    root = dest.resolve()
    written = 0
    files: list[Path] = []
    try:
        try:
            archive = zipfile.ZipFile(archive_path)
        except ZIP_ERRORS as exc:
            raise DataError(f"not a readable ZIP archive: {exc}") from None
        with archive:
            infos = archive.infolist()
            for info in infos:  # refuse a bad archive before writing any of it
                _safe_parts(info.filename)
                _check_type(info)
            for info in infos:
                parts = _safe_parts(info.filename)
                if not parts or info.is_dir():
                    continue
                if len(files) >= max_files:
                    raise DataError(f"the archive has more than {max_files} files", entry=info.filename)
                target = root.joinpath(*parts)
                if not target.resolve().is_relative_to(root):  # belt and braces over _safe_parts
                    raise DataError(
                        f"entry {info.filename!r} resolves outside the folder", entry=info.filename
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with archive.open(info) as src, target.open("xb") as out:
                        while chunk := src.read(CHUNK):
                            written += len(chunk)
                            if written > max_bytes:
                                raise DataError(
                                    f"the archive expands past the limit of {max_bytes} bytes "
                                    f"(at entry {info.filename!r})",
                                    entry=info.filename,
                                )
                            out.write(chunk)
                except FileExistsError:
                    raise DataError(f"entry {info.filename!r} appears twice", entry=info.filename) from None
                except ZIP_ERRORS as exc:
                    raise DataError(
                        f"entry {info.filename!r} is corrupt: {exc}", entry=info.filename
                    ) from None
                files.append(target)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return files
