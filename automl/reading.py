"""Reading a CSV file the way a person would expect: sniffed delimiter, guessed encoding, gzip,
common missing markers, clear errors; big files parsed in chunks.

Bad input raises :class:`~automl.errors.DataError` with a message that names the problem and
the fix.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from automl.errors import DataError, os_reason
from automl.heap import release_free_memory
from automl.words import counted

MISSING_MARKERS = ("", "?", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "NaN", "nan", "-",
                   " ", "  ", "   ", "    ")  # a cell of spaces is a blank cell
DELIMITERS = (",", ";", "\t", "|")
#: Rows parsed at a time (:func:`read_csv`); a file of fewer rows is parsed in one go.
CHUNK_ROWS = 250_000
#: Bytes of a file's start that its encoding, delimiter and header are read from.
HEAD_BYTES = 1 << 20
MAX_PREAMBLE = 20  # lines above the header that reading skips (see _preamble)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Integers with thousands separators (``1,234``), or plain numbers.
THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$|^[-+]?\d+(\.\d+)?$")
#: A number with a decimal comma, its thousands grouped by dots or (no-break) spaces (``1,5``,
#: ``1.234,5``, ``1 234,5``), a euro or percent sign beside it or not (``1.234,50 €``,
#: ``€1.234,50``, ``12,5 %``).
_DECIMAL_COMMA_RE = re.compile(r"^[-+]?(€\s?)?(\d{1,3}([. \u00a0\u202f]\d{3})+|\d+)(,\d+)?"
                               r"([\s\u00a0\u202f]?[€%])?$")
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252",
                   "latin-1": "Latin-1"}


def load_csv(path: Path | str, *, rows_required: bool = True) -> pd.DataFrame:
    """Read a CSV file the way a person would expect.

    Sniffs the delimiter (``, ; tab |``), accepts gzip, a BOM, UTF-8, UTF-16 or Windows-1252
    text, and common missing markers (``? NA N/A null NaN``). Header names are stripped, empty
    ones named ``unnamed_N``; ``inf`` is missing. Without ``rows_required``, a file of a header
    alone is an empty frame (a batch with nothing to predict).

    Raises:
        DataError: the path is not a readable file, or it is not a CSV with a header (and rows,
            where ``rows_required``).

    >>> import tempfile, pathlib; p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("a;b\\n1;x\\n2;?\\n")
    >>> load_csv(p).to_dict("list")
    {'a': [1, 2], 'b': ['x', nan]}
    """
    return read_csv(path, rows_required=rows_required)[0]


def read_csv(path: Path | str, *,
             rows_required: bool = True) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """:func:`load_csv`, plus notes on what was read differently from a plain UTF-8 CSV.

    The file is parsed in chunks of :data:`CHUNK_ROWS` rows straight from disk (through gzip
    when it is compressed), so a big file is held once, as the parsed frame, never also as
    bytes or text. The encoding is guessed from the file's first megabyte and read again in
    the next candidate if a later byte disproves it.
    """
    path = Path(path)
    head = _read_head(path)
    encodings = _encodings(head)
    text = _decode_head(head, encodings[0])
    delimiter = _sniff_delimiter(text)
    skip, above = _preamble(text, delimiter)
    raw_header = _raw_header(text, delimiter, skip)
    header, notes = _clean_header(raw_header, path)
    frame, encoding = _parse(path, encodings, _Layout(delimiter, skip, len(header)))
    if encoding != encodings[0]:  # the header read again in the encoding that fits the file
        raw_header = _raw_header(_decode_head(head, encoding), delimiter, skip)
        header, notes = _clean_header(raw_header, path)
    frame.columns = header
    if above:
        notes.insert(0, f"skipped {counted(skip, 'line')} above the header "
                        f"({', '.join(map(repr, above[:2]))}{' ...' if len(above) > 2 else ''})")
    if encoding != "utf-8-sig":
        notes.insert(0, f"read as {_ENCODING_NAMES[encoding]} text")
    if delimiter != ",":
        notes.insert(0, f"delimiter {_DELIMITER_NAMES[delimiter]}")
    frame, trailing = _drop_trailing_empty(frame, raw_header)
    notes += trailing + _read_decimal_commas(frame, delimiter)
    if frame.empty and rows_required:
        raise DataError(f"{path}: has a header but no data rows; add rows to the file")
    return frame, tuple(notes)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a file's rows are: their delimiter, the lines above the header (a title, ``#``
    comments; see :func:`_preamble`) and the header's number of names."""

    delimiter: str
    skip: int
    n_names: int


def _parse(path: Path, encodings: tuple[str, ...], layout: _Layout) -> tuple[pd.DataFrame, str]:
    """The parsed rows (columns as pandas named them) and the encoding that read them: the
    first of ``encodings`` that decodes every byte."""
    for encoding in encodings[:-1]:
        try:
            return _parse_as(path, encoding, layout), encoding
        except UnicodeDecodeError:
            continue
    return _parse_as(path, encodings[-1], layout), encodings[-1]


def _parse_as(path: Path, encoding: str, layout: _Layout) -> pd.DataFrame:
    """Parse in chunks; a column that reads as numbers in some chunks and as text in others
    is read again as text, as one parse of the whole file would have read it. Each column is
    joined on its own and its pieces dropped, so the rows are held about once, not twice."""
    columns = _chunked_columns(path, encoding, layout)
    mixed = tuple(name for name, pieces in columns.items() if _is_mixed(pieces))
    if mixed:
        columns = _chunked_columns(path, encoding, layout, text_columns=mixed)
    for name, pieces in columns.items():
        _type_empty_text(pieces)
        columns[name] = [pd.concat(pieces, ignore_index=True)]
        if len(pieces) > 1:
            del pieces
            release_free_memory()  # the pieces were small: glibc would keep their pages
    return pd.DataFrame({name: pieces[0] for name, pieces in columns.items()}, copy=False)


def _chunked_columns(path: Path, encoding: str, layout: _Layout,
                     text_columns: tuple[str, ...] = ()) -> dict[str, list[pd.Series]]:
    """Each column of the file as a list of pieces, one a chunk of :data:`CHUNK_ROWS` rows
    (copied out of the chunk, so that a piece is freed on its own), with empty rows dropped
    and ``±inf`` read as missing.

    Raises:
        UnicodeDecodeError: a byte that ``encoding`` cannot decode.
        DataError: not parseable as CSV with ``layout.n_names`` fields a row, unreadable, or
            a corrupt gzip file.
    """
    columns: dict[str, list[pd.Series]] = {}
    n_names = layout.n_names
    try:
        with _file_errors(path), _open(path) as handle, warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            with pd.read_csv(handle, sep=layout.delimiter, skiprows=layout.skip,
                             na_values=list(MISSING_MARKERS),
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


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """Turn the errors of reading ``path`` (through gzip when compressed) into one-line
    :class:`~automl.errors.DataError` s naming the fix."""
    try:
        yield
    except PermissionError:
        raise DataError(f"{path}: permission denied; make the file readable "
                        "(chmod +r) or run as its owner") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt gzip file ({_first_line(exc)}); re-create it") \
            from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({os_reason(exc)}); check the file") from None


def _open(path: Path) -> io.BufferedIOBase:
    """The file's bytes as a stream, decompressed when it starts with gzip's magic number."""
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]


def _read_decimal_commas(frame: pd.DataFrame, delimiter: str) -> list[str]:
    """Turn text columns of decimal-comma numbers (``1,5``, ``1.234,5``, ``1 234,5``; with a
    euro or percent sign: ``1.234,50 €``, ``12,5 %``) into floats, in place.

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
        if delimiter == "," and text.str.match(THOUSANDS_RE).all():
            continue
        dotted = text.str.replace(r"[. \u00a0\u202f€%]", "", regex=True).str.replace(
            ",", ".", regex=False)
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
    with _file_errors(path), _open(path) as handle:
        head = handle.read(HEAD_BYTES)
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


def _raw_header(text: str, delimiter: str, skip: int) -> list[str]:
    """The first non-empty row of ``text`` (the file's decoded head) below its first ``skip``
    lines, as the CSV module splits it."""
    lines = io.StringIO(text)
    for _ in range(skip):
        lines.readline()
    return next((row for row in csv.reader(lines, delimiter=delimiter)
                 if any(cell.strip() for cell in row)), [])


def _preamble(text: str, delimiter: str) -> tuple[int, list[str]]:
    """The lines above the header, and those of them that are not empty: at most
    :data:`MAX_PREAMBLE` leading lines that are ``#`` comments (of another width than the
    rows) or a title (one cell filled, the first, in rows of 3 cells or more), as
    spreadsheets and instruments export them above the table."""
    lines = text.splitlines()[:MAX_PREAMBLE + 50]
    rows = [next(csv.reader([line], delimiter=delimiter), []) for line in lines]
    widths = Counter(len(row) for row in rows if any(cell.strip() for cell in row))
    width = widths.most_common(1)[0][0] if widths else 1
    skip = 0
    for line, row in zip(lines[:MAX_PREAMBLE], rows, strict=False):
        filled = [i for i, cell in enumerate(row) if cell.strip()]
        comment = line.lstrip("\ufeff ").startswith("#") and len(row) != width
        title = width >= 3 and filled in ([], [0])
        if not (comment or title):
            break
        skip += 1
    if skip == len(lines):  # nothing but such lines: no table to find below them
        return 0, []
    return skip, [shown for line in lines[:skip] if (shown := line.strip(f"{delimiter} \ufeff"))]


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
