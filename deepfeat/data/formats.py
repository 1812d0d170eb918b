"""Readers per upload format, and detection: the `format` option, else the file name, else the bytes."""

from __future__ import annotations

import codecs
import csv
import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deepfeat.data.arrays import ArrayDataset
from deepfeat.data.errors import DataError, UnsupportedFormat
from deepfeat.data.images import read_image_zip
from deepfeat.data.options import ReadOptions
from deepfeat.data.safezip import ZIP_ERRORS
from deepfeat.data.schema import base_schema, target_arrays
from deepfeat.data.tabular import TableOptions, table_to_dataset

FORMATS = ("csv", "tsv", "parquet", "npz", "jsonl", "images")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".zip": "images",
}


def detect_format(path: Path, filename: str | None, requested: str | None) -> str:
    if requested:
        if requested not in FORMATS:
            raise UnsupportedFormat(f"format {requested!r} is not supported; use one of {', '.join(FORMATS)}")
        return requested
    suffix = Path(filename or "").suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head:
        raise DataError("the file is empty")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except ZIP_ERRORS as exc:
            raise DataError(f"the file starts like a ZIP but is not a readable archive: {exc}") from None
        return "npz" if names and all(n.endswith(".npy") for n in names) else "images"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    try:
        first_line = head.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedFormat(
            f"cannot tell the format of {filename or 'the upload'!r}: not text, Parquet, NPZ or ZIP; "
            f"pass format= one of {', '.join(FORMATS)}"
        ) from None
    return "tsv" if "\t" in first_line else "csv"


def read_dataset(path: Path, filename: str | None, options: ReadOptions, work_dir: Path) -> ArrayDataset:
    """Parse the upload at `path` into arrays and a schema, or raise a DataError saying where."""
    if path.stat().st_size == 0:
        raise DataError("the file is empty")
    fmt = detect_format(path, filename, options.format)
    if fmt in ("csv", "tsv"):
        data = read_delimited(path, "\t" if fmt == "tsv" else ",", options)
    elif fmt == "parquet":
        data = read_parquet(path, options)
    elif fmt == "npz":
        data = read_npz_upload(path, options)
    elif fmt == "jsonl":
        data = read_jsonl(path, options)
    else:
        data = read_image_zip(path, options, work_dir)
    return replace(data, schema=data.schema.with_(format=fmt))


def _table_options(options: ReadOptions) -> TableOptions:
    return TableOptions(
        target=options.target,
        missing=options.missing,
        target_type=options.target_type,
        max_categories=options.max_categories,
    )


def check_utf8(path: Path, chunk_size: int = 1 << 22) -> None:
    """Refuse text that is not UTF-8, naming the line (one streaming pass, C speed)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + chunk.count(b"\n", 0, exc.start) + 1
                raise DataError(
                    f"line {line}: byte 0x{chunk[exc.start]:02x} is not UTF-8; save the file as UTF-8",
                    row=line - 1,
                ) from None
            lines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise DataError("the file ends in the middle of a UTF-8 character") from None


def read_delimited(path: Path, delimiter: str, options: ReadOptions) -> ArrayDataset:
    check_utf8(path)  # also keeps pyarrow's ragged-row callback from meeting undecodable text
    ragged: list[tuple[int, int, int]] = []

    def on_invalid(row: Any) -> str:
        # `number` is the line in the file (the header is line 1), known because we read serially.
        ragged.append((int(row.number or 0), int(row.actual_columns), int(row.expected_columns)))
        return "skip"

    try:
        with path.open("rb") as handle:
            header = handle.readline().decode("utf-8-sig").rstrip("\r\n")
        names = next(iter(csv.reader([header], delimiter=delimiter)), [])
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            # All text first: the type of each column is decided on the whole column by us, so a stray
            # word deep in a numeric column is reported with its row rather than failing a block.
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A"],
                strings_can_be_null=True,
            ),
        )
    except UnicodeDecodeError:
        raise DataError("the file is not UTF-8 text") from None
    except pa.ArrowInvalid as exc:
        if "invalid UTF8" in str(exc):
            raise DataError(f"the file is not UTF-8 text; save it as UTF-8 ({exc})") from None
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise DataError(f"cannot parse the file as {kind}: {exc}") from None
    if ragged:
        line, actual, expected = ragged[0]
        more = f"; {len(ragged) - 1} more ragged row(s)" if len(ragged) > 1 else ""
        raise DataError(
            f"row {line - 1} (line {line}) has {actual} fields, the header has {expected}{more}", row=line - 1
        )
    if table.num_columns < 1:
        raise DataError("the file has no columns")
    return table_to_dataset(table, _table_options(options))


def read_parquet(path: Path, options: ReadOptions) -> ArrayDataset:
    cap = options.limits.get("max_extracted_bytes", 1 << 34)
    try:
        # Columns may be compressed many times over: check the footer's uncompressed size first.
        metadata = pq.ParquetFile(path).metadata
        expanded = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        if expanded > cap:
            raise DataError(f"the Parquet file expands to {expanded} bytes, over the limit of {cap}")
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError, IndexError, KeyError) as exc:
        raise DataError(f"cannot read the file as Parquet: {exc}") from None
    return table_to_dataset(table, _table_options(options))


def read_npz_upload(path: Path, options: ReadOptions) -> ArrayDataset:
    cap = options.limits.get("max_extracted_bytes", 1 << 34)
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
            if declared > cap:  # ZipExtFile never yields more than the declared size, so this bounds it
                raise DataError(f"the NPZ expands to {declared} bytes, over the limit of {cap}")
            for info in archive.infolist():
                _check_npy_header(archive, info)
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise DataError(
                    f"the NPZ has no array named 'X' (it has: {', '.join(archive.files) or 'none'})",
                    entry="X",
                )
            X = _mapped_member(path, "X.npy")
            X = archive["X"] if X is None else X
            y = archive["y"] if "y" in archive.files else None
    except DataError:
        raise
    except ValueError as exc:  # object arrays (pickles) are refused by allow_pickle=False
        raise DataError(f"cannot read the NPZ: {exc}") from None
    except ZIP_ERRORS as exc:
        raise DataError(f"the NPZ is corrupt: {exc}") from None
    return arrays_to_dataset(X, y, options)


def _mapped_member(path: Path, name: str) -> npt.NDArray[Any] | None:
    """An uncompressed (`np.savez`) member mapped in place, so a large upload is read through the page
    cache rather than into the process's memory; None when it is compressed or unusual."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
    with path.open("rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if dtype.hasobject or fortran or offset - start + int(np.prod(shape)) * dtype.itemsize > info.file_size:
        return None
    mapped: npt.NDArray[Any] = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=tuple(shape))
    return mapped


def _check_npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """An array's header must not promise more data than its member holds: numpy would allocate the
    promised size before finding out (a 10¹² element header in a 100-byte file)."""
    if not info.filename.endswith(".npy"):
        return
    name = info.filename.removesuffix(".npy")
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        except ValueError as exc:
            raise DataError(f"array {name!r} has a broken header: {exc}", entry=name) from None
    if dtype.hasobject:
        raise DataError(f"array {name!r} holds Python objects; only numbers and strings are read", entry=name)
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if needed > info.file_size:
        raise DataError(
            f"array {name!r} claims shape {list(shape)} ({needed} bytes) but holds {info.file_size}",
            entry=name,
        )


def arrays_to_dataset(X: npt.NDArray[Any], y: npt.NDArray[Any] | None, options: ReadOptions) -> ArrayDataset:
    """Check NPZ arrays: X is N×F, N×T×F, N×H×W or N×C×H×W numbers, finite, with one y per row."""
    if X.dtype.kind not in ("f", "i", "u", "b"):
        raise DataError(f"X has dtype {X.dtype}; it must hold numbers", entry="X")
    if X.ndim < 2 or X.ndim > 4:
        raise DataError(f"X has shape {list(X.shape)}; expected N×F, N×T×F, N×H×W or N×C×H×W", entry="X")
    if X.shape[0] == 0:
        raise DataError("X has no rows", entry="X")
    if X.dtype.kind == "f":
        # In chunks of rows: a check over a mapped 1 GiB array must not allocate a 1 GiB mask.
        flat = X.reshape(X.shape[0], -1)
        bad = np.concatenate(
            [~np.isfinite(flat[i : i + 65536]).all(axis=1) for i in range(0, flat.shape[0], 65536)]
        )
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise DataError(
                f"X row {row} holds NaN or inf ({int(bad.sum())} such row(s))", row=row, entry="X"
            )
    if y is not None:
        if y.ndim != 1 or len(y) != X.shape[0]:
            raise DataError(
                f"y has shape {list(y.shape)}; expected one value per row of X ({X.shape[0]})", entry="y"
            )
        if y.dtype.kind == "f":
            bad_y = ~np.isfinite(y)
            if bad_y.any():
                row = int(np.flatnonzero(bad_y)[0]) + 1
                raise DataError(f"y row {row} is NaN or inf (a missing target)", row=row, entry="y")
        elif y.dtype.kind not in ("i", "u", "b", "U"):
            raise DataError(f"y has dtype {y.dtype}; it must hold numbers or strings", entry="y")
    modality = options.modality
    if X.ndim == 2:
        modality = "tabular"
    elif X.ndim == 4:
        modality = "image"
    elif modality not in ("image", "sequence"):
        modality = "image" if X.dtype == np.uint8 else "sequence"
    if modality == "image" and X.ndim == 3:
        X = X[:, None, :, :]
    if modality == "image" and X.ndim == 4 and X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
        X = X.transpose(0, 3, 1, 2)  # N×H×W×C as people often save it → N×C×H×W
    stored = X if X.dtype == np.uint8 else X.astype(np.float32, copy=False)
    y_arr, target = target_arrays(y, options.target_type, "y" if y is not None else None)
    if y is None:
        y_arr = np.zeros(X.shape[0], dtype=np.float32)
    shape = list(stored.shape[1:])
    names = [f"x{i}" for i in range(shape[0])] if modality == "tabular" else None
    schema = base_schema(
        modality,
        shape,
        stored.shape[0],
        target,
        feature_names=names,
        dtype=str(stored.dtype),
        missing={},
    )
    return ArrayDataset(X=np.ascontiguousarray(stored), y=y_arr, schema=schema)


def read_jsonl(path: Path, options: ReadOptions) -> ArrayDataset:
    """`{"text": ..., "label": ...}` per line (`label` optional for all rows or none)."""
    label_key = options.target or "label"
    texts: list[str] = []
    labels: list[Any] = []
    lines: list[int] = []
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"line {line_no}: not valid JSON ({exc})", row=line_no) from None
            if not isinstance(record, dict):
                raise DataError(f'line {line_no}: expected an object like {{"text": ...}}', row=line_no)
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"line {line_no}: 'text' is missing or not a non-empty string", row=line_no)
            texts.append(text)
            label = record.get(label_key)
            if label is not None and not isinstance(label, str | int | float | bool):
                raise DataError(f"line {line_no}: {label_key!r} must be a string or a number", row=line_no)
            labels.append(label)
            lines.append(line_no)
    if not texts:
        raise DataError("the file has no JSON lines")
    has = [lbl is not None for lbl in labels]
    if any(has) and not all(has):
        line = lines[has.index(False)]
        raise DataError(
            f"line {line}: {label_key!r} missing while other lines have one", row=line, column=label_key
        )
    y_raw = None
    if all(has):
        kinds = {type(lbl) for lbl in labels}
        y_raw = np.array([str(lbl) for lbl in labels]) if str in kinds else np.array(labels)
    y, target = target_arrays(y_raw, options.target_type, label_key if y_raw is not None else None)
    if y_raw is None:
        y = np.zeros(len(texts), dtype=np.float32)
    X = np.array(texts, dtype=np.str_)
    lengths = np.array([len(t) for t in texts])
    schema = base_schema(
        "text",
        [1],
        len(texts),
        target,
        feature_names=["text"],
        feature_types={"text": "text"},
        missing={},
        text_length={"min": int(lengths.min()), "mean": float(lengths.mean()), "max": int(lengths.max())},
    )
    return ArrayDataset(X=X, y=y, schema=schema)
