"""Reading a CSV, inferring its schema and task, fingerprinting it, and the one seeded split.

Everything here is plain pandas/numpy and pure apart from :func:`load_csv`. Bad input raises
:class:`~automl.errors.DataError` with a message that names the problem and the fix.
"""

from __future__ import annotations

import codecs
import csv
import ctypes
import difflib
import functools
import gzip
import hashlib
import io
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.config import TaskType
from automl.errors import DataError, os_reason

MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "NaN", "nan", "-")
DELIMITERS = (",", ";", "\t", "|")
#: Rows parsed at a time (:func:`read_csv`); a file of fewer rows is parsed in one go.
CHUNK_ROWS = 250_000
#: Bytes of a file's start that its encoding, delimiter and header are read from.
HEAD_BYTES = 1 << 20
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
MAX_CLASSES_FOR_INTEGER_TARGET = 20
MIN_ROWS_PER_CLASS = 3
MIN_ROWS_REGRESSION = 10
_BOOL_WORDS = ({"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})
_DATE_RE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?(\.\d+)?Z?)?$")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$|^[-+]?\d+(\.\d+)?$")
_DECIMAL_COMMA_RE = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_ID_NAME_RE = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index)$", re.IGNORECASE)
_CAMEL_ID_RE = re.compile(r"[a-z](Id|ID)$")
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252",
                   "latin-1": "Latin-1"}


class ColumnKind(str, Enum):
    """What a feature column holds; the last three are dropped."""

    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    CONSTANT = "constant"
    ID = "id-like"
    TEXT = "free text"

    @property
    def is_used(self) -> bool:
        return self in (ColumnKind.NUMERIC, ColumnKind.BOOLEAN, ColumnKind.CATEGORICAL,
                        ColumnKind.DATETIME)


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSpec:
    """One feature column: its name, inferred kind, and why (for dropped or coerced columns)."""

    name: str
    kind: ColumnKind
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """The inferred shape of a dataset: the target, the task and every feature column.

    ``classes`` holds the original class labels as strings (empty for regression); a class's
    code is its index. ``class_counts`` are the rows of each class (same order);
    ``positive_class`` is the label binary metrics (precision, recall, F1, PR-AUC) and the
    decision threshold are about (binary only; see :func:`infer_positive`).
    ``n_missing_target`` rows were dropped because their target was empty.
    ``notes`` tell the user what was read or matched differently from the file as written
    (delimiter, encoding, stripped headers, a forgiving ``--target`` match).
    """

    target: str
    task: TaskType
    columns: tuple[ColumnSpec, ...]
    classes: tuple[str, ...] = ()
    class_counts: tuple[int, ...] = ()
    positive_class: str | None = None
    n_rows: int = 0
    n_missing_target: int = 0
    notes: tuple[str, ...] = ()

    @property
    def minority_share(self) -> float | None:
        """The smallest class's share of the rows (``None``: regression or no counts)."""
        if not self.class_counts:
            return None
        return min(self.class_counts) / sum(self.class_counts)

    @property
    def positive_code(self) -> int:
        """The class code of :attr:`positive_class` (1 when unset: older schemas)."""
        if self.positive_class in self.classes:
            return self.classes.index(self.positive_class)  # type: ignore[arg-type]
        return 1

    @property
    def used(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.kind.is_used)

    @property
    def dropped(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if not c.kind.is_used)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; :meth:`from_dict` inverts it."""
        return {
            "target": self.target, "task": self.task.value, "classes": list(self.classes),
            "class_counts": list(self.class_counts), "positive_class": self.positive_class,
            "n_rows": self.n_rows, "n_missing_target": self.n_missing_target,
            "notes": list(self.notes),
            "columns": [{"name": c.name, "kind": c.kind.value, "note": c.note}
                        for c in self.columns],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        columns = tuple(ColumnSpec(name=c["name"], kind=ColumnKind(c["kind"]), note=c["note"])
                        for c in d["columns"])
        return cls(target=d["target"], task=TaskType(d["task"]), columns=columns,
                   classes=tuple(d["classes"]),
                   class_counts=tuple(d.get("class_counts", ())),
                   positive_class=d.get("positive_class"), n_rows=d["n_rows"],
                   n_missing_target=d["n_missing_target"], notes=tuple(d.get("notes", ())))


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A loaded CSV: rows with a known target, its schema, and the raw file's fingerprint."""

    frame: pd.DataFrame
    schema: Schema
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Splits:
    """The study's one train/validation/test split (``test`` may be empty)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    seed: int


# --------------------------------------------------------------------------------------- reading
def load_csv(path: Path | str) -> pd.DataFrame:
    """Read a CSV file the way a person would expect.

    Sniffs the delimiter (``, ; tab |``), accepts gzip, a BOM, UTF-8, UTF-16 or Windows-1252
    text, and common missing markers (``? NA N/A null NaN``). Header names are stripped, empty
    ones named ``unnamed_N``; ``inf`` is missing.

    Raises:
        DataError: the path is not a readable file, or it is not a CSV with a header and rows.

    >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("a;b\\n1;x\\n2;?\\n")
    >>> load_csv(p).to_dict("list")
    {'a': [1, 2], 'b': ['x', nan]}
    """
    return read_csv(path)[0]


def read_csv(path: Path | str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """:func:`load_csv`, plus notes on what was read differently from a plain UTF-8 CSV.

    The file is parsed in chunks of :data:`CHUNK_ROWS` rows straight from disk (through gzip
    when it is compressed), so a big file is held once, as the parsed frame, never also as
    bytes or text. The encoding is guessed from the file's first megabyte and read again in
    the next candidate if a later byte disproves it.
    """
    path = Path(path)
    head = _read_head(path)
    encodings = _encodings(head)
    delimiter = _sniff_delimiter(_decode_head(head, encodings[0]))
    raw_header = _raw_header(head, encodings[0], delimiter)
    header, _ = _clean_header(raw_header, path)
    frame, encoding = _parse(path, encodings, delimiter, len(header))
    if encoding != encodings[0]:
        raw_header = _raw_header(head, encoding, delimiter)
    header, notes = _clean_header(raw_header, path)
    frame.columns = header
    if encoding != "utf-8-sig":
        notes.insert(0, f"read as {_ENCODING_NAMES[encoding]} text")
    if delimiter != ",":
        notes.insert(0, f"delimiter {_DELIMITER_NAMES[delimiter]}")
    frame, trailing = _drop_trailing_empty(frame, raw_header)
    notes += trailing + _read_decimal_commas(frame, delimiter)
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows; add rows to the file")
    return frame, tuple(notes)


def _parse(path: Path, encodings: tuple[str, ...], delimiter: str,
           n_names: int) -> tuple[pd.DataFrame, str]:
    """The parsed rows (columns as pandas named them) and the encoding that read them: the
    first of ``encodings`` that decodes every byte."""
    for encoding in encodings[:-1]:
        try:
            return _parse_as(path, encoding, delimiter, n_names), encoding
        except UnicodeDecodeError:
            continue
    return _parse_as(path, encodings[-1], delimiter, n_names), encodings[-1]


def _parse_as(path: Path, encoding: str, delimiter: str, n_names: int) -> pd.DataFrame:
    """Parse in chunks; a column that reads as numbers in some chunks and as text in others
    is read again as text, as one parse of the whole file would have read it. Each column is
    joined on its own and its pieces dropped, so the rows are held about once, not twice."""
    columns = _chunked_columns(path, encoding, delimiter, n_names)
    mixed = tuple(name for name, pieces in columns.items() if _is_mixed(pieces))
    if mixed:
        columns = _chunked_columns(path, encoding, delimiter, n_names, text_columns=mixed)
    for name, pieces in columns.items():
        _type_empty_text(pieces)
        columns[name] = [pd.concat(pieces, ignore_index=True)]
        del pieces
        _return_freed_memory()
    return pd.DataFrame({name: pieces[0] for name, pieces in columns.items()}, copy=False)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (AttributeError, OSError):  # not glibc
        return None


def _return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere,
    nothing). A column's pieces are small enough to live in the heap, whose holes glibc keeps:
    without this, ten million rows held their size twice over once joined (7.7 GiB, not 4.5)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _chunked_columns(path: Path, encoding: str, delimiter: str, n_names: int,
                     text_columns: tuple[str, ...] = ()) -> dict[str, list[pd.Series]]:
    """Each column of the file as a list of pieces, one a chunk of :data:`CHUNK_ROWS` rows
    (copied out of the chunk, so that a piece is freed on its own), with empty rows dropped
    and ``±inf`` read as missing.

    Raises:
        UnicodeDecodeError: a byte that ``encoding`` cannot decode.
        DataError: not parseable as CSV with ``n_names`` fields a row, or a corrupt gzip file.
    """
    columns: dict[str, list[pd.Series]] = {}
    try:
        with _open(path) as handle, warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            with pd.read_csv(handle, sep=delimiter, na_values=list(MISSING_MARKERS),
                             keep_default_na=True, skip_blank_lines=True, low_memory=False,
                             index_col=False, encoding=encoding, chunksize=CHUNK_ROWS,
                             encoding_errors="replace" if encoding == "utf-16" else "strict",
                             dtype=dict.fromkeys(text_columns, str) or None) as reader:
                for chunk in reader:
                    if len(chunk.columns) != n_names:
                        raise DataError(f"{path}: the header has {n_names} names but the rows "
                                        f"{len(chunk.columns)} fields; check the delimiter "
                                        "and quoting")
                    chunk = chunk.dropna(how="all").replace([np.inf, -np.inf], np.nan)
                    for name in chunk.columns:
                        columns.setdefault(str(name), []).append(chunk[name].copy())
    except UnicodeDecodeError:
        raise
    except pd.errors.ParserWarning:
        raise DataError(f"{path}: some rows have more fields than the header's {n_names}; "
                        "check the delimiter and quoting, or name every column") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt gzip file ({_first_line(exc)}); re-create it") \
            from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({os_reason(exc)}); check the file") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: cannot parse as CSV ({_first_line(exc)}); "
                        "check the delimiter and quoting") from None
    return columns


def _is_mixed(pieces: list[pd.Series]) -> bool:
    """Whether some pieces of a column read as numbers (or booleans) and others as text."""
    kinds = {_kind(piece) for piece in pieces if piece.notna().any()}
    return len(kinds) > 1 and "text" in kinds


def _type_empty_text(pieces: list[pd.Series]) -> None:
    """Give a text column's all-empty pieces (parsed as floats) the text dtype, in place."""
    filled = [piece for piece in pieces if piece.notna().any()]
    if filled and len(filled) < len(pieces) and all(_kind(p) == "text" for p in filled):
        for i, piece in enumerate(pieces):
            if not piece.notna().any():
                pieces[i] = piece.astype(filled[0].dtype)


def _kind(column: pd.Series) -> str:
    """``flags`` (True/False, object-typed when some are missing), ``number`` or ``text``."""
    if pd.api.types.is_bool_dtype(column) or (
            pd.api.types.is_object_dtype(column)
            and column.dropna().map(type).isin([bool, np.bool_]).all()):
        return "flags"
    return "number" if pd.api.types.is_numeric_dtype(column) else "text"


def _open(path: Path) -> io.BufferedIOBase:
    """The file's bytes as a stream, decompressed when it starts with gzip's magic number."""
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _read_decimal_commas(frame: pd.DataFrame, delimiter: str) -> list[str]:
    """Turn text columns of decimal-comma numbers (``1,5``, ``1.234,5``) into floats, in place.

    A column whose values could also be thousands-separated integers (``1,234``) keeps that
    reading in a comma-delimited file, where a decimal comma would need quoting. Returns the
    note for the user (none when no column was read so).
    """
    read = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        text = column.dropna().astype(str).str.strip()
        if text.empty or not text.str.contains(",", regex=False).any() or not text.str.match(
                _DECIMAL_COMMA_RE).all():
            continue
        if delimiter == "," and text.str.match(_THOUSANDS_RE).all():
            continue
        dotted = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        frame[name] = pd.to_numeric(dotted, errors="coerce").reindex(frame.index)
        read.append(repr(name))
    return [f"decimal commas read as numbers in {', '.join(read)}"] if read else []


_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _read_head(path: Path) -> bytes:
    """The first :data:`HEAD_BYTES` bytes of the file (decompressed), after checking that it
    is a readable, non-empty text file."""
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; pass the path of a CSV file")
    try:
        with _open(path) as handle:
            head = handle.read(HEAD_BYTES)
    except PermissionError:
        raise DataError(f"{path}: permission denied; make the file readable "
                        "(chmod +r) or run as its owner") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt gzip file ({_first_line(exc)}); re-create it") \
            from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({os_reason(exc)}); check the file") from None
    if head[:2] in _UTF16_BOMS:  # UTF-16 with a BOM ("Unicode text" exports)
        return head
    if not head.strip():
        raise DataError(f"{path}: the file is empty; pass a CSV with a header row and data")
    _refuse_non_csv(head[:4096], path)
    return head


def _refuse_non_csv(head: bytes, path: Path) -> None:
    if head[:4] == b"PK\x03\x04" or head[:4] == b"\xd0\xcf\x11\xe0":
        raise DataError(f"{path}: looks like an Excel/zip file, not CSV; export it as CSV first")
    if b"\x00" in head:
        raise DataError(f"{path}: is a binary file, not CSV; pass a text CSV file")
    if head.lstrip()[:1] in (b"{", b"["):
        raise DataError(f"{path}: looks like JSON, not CSV; convert it to CSV first")


def _encodings(head: bytes) -> tuple[str, ...]:
    """The encodings to try, most likely first: UTF-16 by its BOM; else UTF-8, Windows-1252
    and Latin-1 (which decodes any byte), from the first that decodes ``head``."""
    if head[:2] in _UTF16_BOMS:
        return ("utf-16",)
    candidates = ("utf-8-sig", "cp1252", "latin-1")
    for i, encoding in enumerate(candidates[:-1]):
        try:
            _decode_head(head, encoding, errors="strict")
            return candidates[i:]
        except UnicodeDecodeError:
            continue
    return candidates[-1:]


def _decode_head(head: bytes, encoding: str, errors: str = "replace") -> str:
    """``head`` as text; a character cut in two at its end is left out."""
    return codecs.getincrementaldecoder(encoding)(errors=errors).decode(head, final=False)


def _raw_header(head: bytes, encoding: str, delimiter: str) -> list[str]:
    """The first non-empty row of ``head``, as the CSV module splits it."""
    text = _decode_head(head, encoding)
    return next((row for row in csv.reader(io.StringIO(text), delimiter=delimiter)
                 if any(cell.strip() for cell in row)), [])


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most, equally long, rows."""
    sample = text[:65536].rsplit("\n", 1)[0] if len(text) > 65536 else text

    def score(delimiter: str) -> tuple[float, int]:
        rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r][:50]
        widths = Counter(len(r) for r in rows)
        width, count = widths.most_common(1)[0] if widths else (1, 0)
        return (count / max(len(rows), 1) if width > 1 else 0.0, width)

    best = max(DELIMITERS, key=score)
    return best if score(best)[1] > 1 else ","


def _clean_header(raw: list[str], path: Path) -> tuple[list[str], list[str]]:
    """Stripped header names (empty ones named ``unnamed_N``) and notes on what changed."""
    if not raw:
        raise DataError(f"{path}: the file is empty; pass a CSV with a header row and data")
    header = [h.strip() for h in raw]
    notes = []
    stripped = [h for h, r in zip(header, raw, strict=True) if h and h != r]
    if stripped:
        shown = ", ".join(map(repr, stripped[:5])) + (" ..." if len(stripped) > 5 else "")
        notes.append(f"spaces stripped from {len(stripped)} header name(s): {shown}")
    unnamed = [i for i, h in enumerate(header) if not h]
    for i in unnamed:
        header[i] = f"unnamed_{i + 1}"
    trailing = bool(unnamed) and unnamed[-1] == len(header) - 1
    named = unnamed[:-1] if trailing else unnamed
    if named:
        notes.append(f"column(s) {', '.join(str(i + 1) for i in named)} had no header name: "
                     f"called {', '.join(repr(header[i]) for i in named)}")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise DataError(f"{path}: duplicate column name(s) {', '.join(map(repr, duplicates))}; "
                        "rename them so every header is unique")
    return header, notes


def _drop_trailing_empty(frame: pd.DataFrame, raw: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Drop a last, unnamed, all-empty column (a trailing delimiter on every line)."""
    last = frame.columns[-1]
    if raw and not raw[-1].strip() and frame[last].isna().all() and len(frame.columns) > 1:
        return frame.drop(columns=[last]), ["ignored a trailing delimiter on every line"]
    if raw and not raw[-1].strip():
        return frame, [f"the last column had no header name: called {last!r}"]
    return frame, []


# ---------------------------------------------------------------------------------------- schema
def resolve_target(frame: pd.DataFrame, target: str | None) -> str:
    """The target column's name: ``target`` matched forgivingly, or the last column.

    Raises:
        DataError: no column matches; the message lists the closest names.
    """
    if target is None:
        return str(frame.columns[-1])
    if target in frame.columns:
        return target
    folded = {str(c).strip().casefold(): str(c) for c in frame.columns}
    if target.strip().casefold() in folded:
        return folded[target.strip().casefold()]
    matches = difflib.get_close_matches(target.strip().casefold(), list(folded), n=3,
                                        cutoff=0.5)
    close = [folded[m] for m in matches]
    hint = f"did you mean {', '.join(map(repr, close))}?" if close else (
        f"the columns are {', '.join(map(repr, list(frame.columns)[:10]))}")
    raise DataError(f"target column {target!r} not found; {hint} (use --target NAME)")


def infer_task(target: pd.Series, forced: TaskType | str | None = None) -> TaskType:
    """Regression for a numeric target with many distinct values, classification otherwise.

    >>> infer_task(pd.Series([0.0, 1.0, 1.0]))
    <TaskType.BINARY: 'binary'>
    >>> infer_task(pd.Series(range(100)) * 1.5)
    <TaskType.REGRESSION: 'regression'>
    """
    values = target.dropna()
    numeric = pd.to_numeric(values, errors="coerce")
    is_numeric = bool(numeric.notna().all()) and not pd.api.types.is_bool_dtype(values)
    if forced is not None:
        task = TaskType(forced)
        if task is TaskType.REGRESSION and not is_numeric:
            raise DataError(f"target {target.name!r} is not numeric, so it cannot be regressed; "
                            "drop --task regression or clean the column")
        n_classes = label_strings(values).nunique()
        if task is TaskType.BINARY and n_classes > 2:
            raise DataError(f"target {target.name!r} has {n_classes} classes, so it is not "
                            "binary; use --task multiclass or leave --task out")
        return task
    n_unique = values.nunique()
    integral = is_numeric and bool(np.all(np.mod(numeric.to_numpy(dtype=float), 1) == 0))
    if is_numeric and not (integral and n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET):
        return TaskType.REGRESSION
    return TaskType.BINARY if n_unique <= 2 else TaskType.MULTICLASS


def label_strings(values: pd.Series) -> pd.Series:
    """Class labels as strings, with float-coded integers shown as integers (``1.0`` → ``1``).

    >>> label_strings(pd.Series([1.0, 0.0, 1.0])).tolist()
    ['1', '0', '1']
    >>> label_strings(pd.Series([True, False])).tolist()
    ['True', 'False']
    """
    known = values.dropna()
    if pd.api.types.is_bool_dtype(values) or (
            len(known) and all(isinstance(v, (bool, np.bool_)) for v in known.iloc[:1000])):
        return _map_distinct(values, lambda v: str(bool(v)))
    numeric = pd.to_numeric(values, errors="coerce")
    if values.notna().any() and numeric[values.notna()].notna().all():
        as_float = numeric.astype(float)
        if bool(np.all(np.mod(as_float.dropna(), 1) == 0)):
            return _map_distinct(as_float, lambda v: str(int(v)))
    return _map_distinct(values, lambda v: str(v).strip())


def _map_distinct(values: pd.Series, label: Callable[[Any], str]) -> pd.Series:
    """``label`` of each value, called once per distinct value (a million-row target has a
    handful); missing values stay ``None``."""
    codes, distinct = pd.factorize(values)
    labels = np.array([label(v) for v in distinct] + [None], dtype=object)
    return pd.Series(labels[codes], index=values.index, name=values.name)


def infer_column(series: pd.Series) -> ColumnSpec:
    """The kind of one feature column (see :class:`ColumnKind`), with a note on why.

    >>> infer_column(pd.Series(["a", "b", "a"], name="c")).kind
    <ColumnKind.CATEGORICAL: 'categorical'>
    """
    name, values = str(series.name), series.dropna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        x = values.to_numpy(dtype=float)  # no hashing of a million floats: min, max, compare
        if len(x) == 0 or x.min() == x.max():
            return ColumnSpec(name=name, kind=ColumnKind.CONSTANT, note="dropped: a single value")
        if bool(np.all((x == 0) | (x == 1))):
            return ColumnSpec(name=name, kind=ColumnKind.BOOLEAN)
        if _looks_like_id(values, len(series), name):
            return ColumnSpec(name=name, kind=ColumnKind.ID,
                              note="dropped: unique integers (a row number or key)")
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC)
    n_unique = values.nunique()
    if n_unique <= 1:
        return ColumnSpec(name=name, kind=ColumnKind.CONSTANT, note="dropped: a single value")
    if _is_boolean(values):
        return ColumnSpec(name=name, kind=ColumnKind.BOOLEAN)
    if pd.api.types.is_numeric_dtype(values):
        if _looks_like_id(values, len(series), name):
            return ColumnSpec(name=name, kind=ColumnKind.ID,
                              note="dropped: unique integers (a row number or key)")
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC)
    return _infer_text_column(name, values.astype(str).str.strip(), len(series))


def _is_boolean(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values):
        return set(np.unique(values.to_numpy())) <= {0, 1}
    words = set(values.astype(str).str.strip().str.lower().unique())
    return any(words <= pair for pair in _BOOL_WORDS)


def _looks_like_id(values: pd.Series, n_rows: int, name: str) -> bool:
    """Unique integers that count rows (a dense or sorted range) or are named like a key.

    Unique integers spread widely in random order (prices, incomes) stay numeric.
    """
    if n_rows < 20 or len(values) != n_rows:
        return False
    x = values.to_numpy(dtype=float)
    if not (pd.api.types.is_integer_dtype(values) or bool(np.all(np.mod(x, 1) == 0))):
        return False
    if values.nunique() != n_rows:
        return False
    dense = x.max() - x.min() < 2 * n_rows
    ordered = bool(np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0))
    named = bool(_ID_NAME_RE.search(name) or _CAMEL_ID_RE.search(name))
    return dense or ordered or named


def _infer_text_column(name: str, text: pd.Series, n_rows: int) -> ColumnSpec:
    sample = text.iloc[:2000]
    if sample.str.match(_THOUSANDS_RE).all() and text.str.match(_THOUSANDS_RE).all() and (
            text.str.contains(",", regex=False).any()):
        return ColumnSpec(name=name, kind=ColumnKind.NUMERIC, note="thousands separators removed")
    if sample.str.match(_DATE_RE).all() and _parses_as_dates(sample):
        return ColumnSpec(name=name, kind=ColumnKind.DATETIME, note="expanded to date parts")
    distinct = pd.Series(text.unique())
    unique_share = len(distinct) / max(len(text), 1)
    if n_rows >= 20 and unique_share > 0.5:
        words = sample.str.count(" ").mean()
        if words >= 2:
            return ColumnSpec(name=name, kind=ColumnKind.TEXT, note="dropped: free text")
        if unique_share > 0.95:
            return ColumnSpec(name=name, kind=ColumnKind.ID, note="dropped: unique strings")
    numeric = pd.to_numeric(distinct, errors="coerce")
    mixed = "mixed numbers and text" if numeric.notna().any() else ""
    return ColumnSpec(name=name, kind=ColumnKind.CATEGORICAL, note=mixed)


def _parses_as_dates(sample: pd.Series) -> bool:
    """Whether nearly all of ``sample`` are real dates (``1.2.3`` version numbers are not)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(stamps.notna().mean() >= 0.9)


def infer_schema(frame: pd.DataFrame, target: str | None = None,
                 task: TaskType | str | None = None, positive: str | None = None) -> Schema:
    """The schema of ``frame``: target (resolved), task, classes, their counts, the positive
    class of a binary target (``positive``, else inferred) and every feature column.

    Raises:
        DataError: no such target, no usable target values, one class only, no features,
            ``positive`` given for a non-binary target or not one of its labels.
    """
    asked, target = target, resolve_target(frame, target)
    notes = (f"--target {asked!r} matched column {target!r}",) if asked not in (None, target) \
        else ()
    y = frame[target]
    known = y.notna()
    if not known.any():
        raise DataError(f"target {target!r} has no values; choose another --target")
    task_type = infer_task(y[known], task)
    classes: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    if task_type.is_classification:
        labels = label_strings(y[known])
        classes = tuple(sorted(labels.unique(), key=_natural_key))
        if len(classes) < 2:
            raise DataError(f"target {target!r} has a single class ({classes[0]!r}); "
                            "a classifier needs at least two")
        sizes = labels.value_counts()
        counts = tuple(int(sizes[c]) for c in classes)
    chosen = _positive_class(target, task_type, classes, counts, positive)
    rows = frame if known.all() else frame[known]
    columns = tuple(infer_column(rows[c]) for c in frame.columns if c != target)
    if not any(c.kind.is_used for c in columns):
        raise DataError(f"no usable feature columns besides target {target!r}; "
                        "add feature columns to the CSV")
    return Schema(target=target, task=task_type, columns=columns, classes=classes,
                  class_counts=counts, positive_class=chosen, n_rows=int(known.sum()),
                  n_missing_target=int((~known).sum()), notes=notes)


def infer_positive(classes: tuple[str, ...], counts: tuple[int, ...]) -> str:
    """The positive class of a binary target: the minority class; on a tie, the second label.

    >>> infer_positive(("no", "yes"), (90, 10)), infer_positive(("0", "1"), (5, 5))
    ('yes', '1')
    """
    return classes[0] if counts[0] < counts[1] else classes[1]


def _positive_class(target: str, task: TaskType, classes: tuple[str, ...],
                    counts: tuple[int, ...], asked: str | None) -> str | None:
    if asked is None:
        return infer_positive(classes, counts) if task is TaskType.BINARY else None
    if task is not TaskType.BINARY:
        raise DataError(f"--positive-class is for binary targets; {target!r} is a "
                        f"{task.value} target")
    if str(asked) not in classes:
        shown = ", ".join(repr(c) for c in classes)
        raise DataError(f"--positive-class {asked!r} is not a label of target {target!r}; "
                        f"its labels are {shown}")
    return str(asked)


def _natural_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


# ------------------------------------------------------------------------------ dataset and split
def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of the frame (header, dtypes, every cell): equal data, equal fingerprint."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update("\x1f".join(map(str, frame.dtypes)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def load_dataset(path: Path | str, target: str | None = None,
                 task: TaskType | str | None = None, positive: str | None = None) -> Dataset:
    """Read, fingerprint and describe a CSV, keeping only the rows whose target is known
    (``positive``: the positive class of a binary target, see :func:`infer_schema`)."""
    frame, notes = read_csv(path)
    schema = infer_schema(frame, target, task, positive)
    schema = replace(schema, notes=notes + schema.notes)
    digest = fingerprint(frame)
    if schema.n_missing_target:  # a copy of the rest: a big table's is not made needlessly
        frame = frame[frame[schema.target].notna()].reset_index(drop=True)
    return Dataset(frame=frame, schema=schema, fingerprint=digest)


def encode_target(values: pd.Series, schema: Schema) -> np.ndarray:
    """Class codes (int64, index into ``schema.classes``) or float32 regression values."""
    if not schema.task.is_classification:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float32)
    codes = {label: i for i, label in enumerate(schema.classes)}
    return label_strings(values).map(codes).to_numpy(dtype=np.int64)


def split(frame: pd.DataFrame, schema: Schema, *, seed: int, val_fraction: float,
          test_fraction: float) -> Splits:
    """One seeded split; stratified for classification so every class is in every part.

    Raises:
        DataError: too few rows (per class) for a train, a validation and a test part.
    """
    rng = np.random.default_rng(seed)
    if schema.task.is_classification:
        labels = label_strings(frame[schema.target]).to_numpy()
        groups = [np.flatnonzero(labels == c) for c in schema.classes]
        _check_class_sizes(schema, [len(g) for g in groups], test_fraction)
    else:
        if len(frame) < MIN_ROWS_REGRESSION:
            raise DataError(f"only {len(frame)} rows; a search needs at least "
                            f"{MIN_ROWS_REGRESSION}: add rows")
        groups = [np.arange(len(frame))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        for part, idx in zip(parts, _cut(rng.permutation(group), val_fraction, test_fraction),
                             strict=True):
            part.append(idx)
    train, val, test = (frame.iloc[np.sort(np.concatenate(p))] for p in parts)
    return Splits(train=train, val=val, test=test, seed=seed)


def _check_class_sizes(schema: Schema, sizes: list[int], test_fraction: float) -> None:
    need = MIN_ROWS_PER_CLASS  # also without a test split: folds need a few rows of each class
    rare = [(label, size) for label, size in zip(schema.classes, sizes, strict=True)
            if size < need]
    if rare:
        shown = ", ".join(f"{label!r} has {size} row(s)" for label, size in rare[:3])
        more = f" (and {len(rare) - 3} more classes)" if len(rare) > 3 else ""
        parts = ("train, validation and test" if test_fraction > 0
                 else "training and validation folds")
        raise DataError(f"target {schema.target!r}: class {shown}{more}; each class needs at "
                        f"least {need} rows to appear in {parts}: add rows or merge rare "
                        "classes")


def _cut(idx: np.ndarray, val_fraction: float, test_fraction: float) -> list[np.ndarray]:
    n = len(idx)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    return [idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test]]
