"""A big CSV's prepared matrix, kept on disk: later runs map it instead of reading the file.

``resume``, ``--workers N`` and ``automl worker`` on one host prepare the same data as the run
that made the study. For a table of more than :data:`CACHE_ABOVE_ROWS` training rows (one whose
rows grow, :class:`~automl.train.RowGrowth`), the first run saves what preparing produced (the
schema, the fingerprint, the split, the folds, the fitted preprocessing and the split's tensors)
as one entry under the cache folder (``studies/cache`` by default). Later runs memory-map the
tensors: the file is not read or parsed again, and the processes of one host share the pages
of one copy.

A file has one entry, found by its resolved path, size and modification time: a changed file
finds none, and saving its entry removes those of the file's earlier versions. An entry is used
only for the settings that made it: the same target, task and positive class (as asked, or as
they were inferred: a continuation names them), the same split seed and, checked by the caller,
the same split (:class:`~automl.folds.Validation`); a run with other settings reads the CSV and
its entry replaces the file's. Entries are written to a temporary folder and renamed into
place, so a reader never sees half of one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from automl.config import GROW_ABOVE_ROWS, NO_CHOICES, ColumnChoices
from automl.data import Schema
from automl.features import Preprocessor, TensorSplits
from automl.folds import Folds, Validation

#: Tables of more training rows than this are cached: those whose rows grow (reading them
#: costs more than mapping).
CACHE_ABOVE_ROWS = GROW_ABOVE_ROWS
#: Bump when an entry's layout or the column rules that made it change: older entries are then
#: never found, and a run reads the CSV with today's rules.
CACHE_VERSION = 9  # 2: categoricals of many levels as level codes (embedded); 3: percentages,
# currency amounts and numbers beside a few words for missing read as numbers (columns, target),
# one value beside blanks a flag, dates in one order per column; 4: numbers with a unit read as
# numbers, classes of 1-2 rows left out, lines above the header skipped; 5: scales (19M, 201k)
# multiplied out, amounts beside plain numbers and counts with a plus read as numbers, cells of
# spaces missing, dates with the month's name or a time offset read as dates, thousands
# grouped by spaces; 6: times and durations (22:20, 2h 50m) read as hours, decimal commas with
# a euro or percent sign, amounts in parentheses and heights in feet and inches read as
# numbers; splits by time or by group; 7: ratings (4.1/5) read as their scores, a scale before
# a unit (1.2K reviews) or after a currency sign ($1.2M) multiplied out, yen and rupees (¥95,
# ₹800, Rs. 1,200) and currency codes before a number (USD 1,234) read as amounts; 8: units of
# one measure at several scales (512 GB beside 1 TB) read in the smallest; 9: the schema keeps a
# regression target's units
_TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_META = "meta.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """What an entry is for: a data file as it is now, and the settings that shape its matrix."""

    path: Path
    target: str | None
    task: str | None
    positive_class: str | None
    seed: int
    column_choices: ColumnChoices = NO_CHOICES

    @property
    def data_path(self) -> str:
        return str(self.path.resolve())

    def fits(self, made_for: dict[str, Any], schema: Schema) -> bool:
        """Whether an entry made for ``made_for`` (the :class:`Source` fields asked then) with
        ``schema`` serves this source: each setting as asked then, or as inferred then."""
        inferred = {"target": schema.target, "task": schema.task.value,
                    "positive_class": schema.positive_class}

        def serves(name: str) -> bool:
            asked = getattr(self, name)
            return asked == made_for[name] or (asked is not None and asked == inferred[name])

        return (self.seed == made_for["seed"] and all(serves(name) for name in inferred)
                and self.column_choices.to_dict() == made_for.get("column_choices",
                                                                  NO_CHOICES.to_dict()))

    def stamp(self) -> list[int]:
        """The file's size and modification time (raises :class:`OSError` when it is gone)."""
        stat = self.path.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def key(self) -> str:
        """A digest of the file's path and :meth:`stamp`."""
        text = json.dumps([CACHE_VERSION, self.data_path, self.stamp()])
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A CSV made ready for a search: its schema, fingerprint, column names and rows with a
    known target, the split, the folds, the fitted preprocessing and the split's tensors."""

    schema: Schema
    fingerprint: str
    columns: tuple[str, ...]
    n_rows: int
    validation: Validation
    folds: Folds | None
    preprocessor: Preprocessor
    tensors: TensorSplits


def load(root: Path, source: Source) -> Prepared | None:
    """The entry of ``source`` under ``root``, its tensors memory-mapped (copy on write);
    ``None`` when there is none, it was made for other settings or it cannot be read."""
    folder = root / source.key()
    meta = _stored(folder)
    try:
        schema = Schema.from_dict(meta["preprocessor"]["schema"])
        if not source.fits(meta["made_for"], schema):
            return None
        arrays = {name: torch.from_numpy(np.load(folder / f"{name}.npy", mmap_mode="c"))
                  for name in _TENSORS}
        return Prepared(
            schema=schema, fingerprint=meta["fingerprint"], columns=tuple(meta["columns"]),
            n_rows=meta["n_rows"], validation=Validation(**meta["validation"]),
            folds=Folds.decode(meta["folds"]) if meta["folds"] else None,
            preprocessor=Preprocessor.from_dict(meta["preprocessor"]),
            tensors=TensorSplits(**arrays, **(meta["tensors"] | {"cardinalities": tuple(
                meta["tensors"]["cardinalities"])})))
    except (OSError, ValueError, KeyError, TypeError):  # none, or not one this code wrote
        return None


def save(root: Path, source: Source, prepared: Prepared) -> Path:
    """Write ``prepared`` as the entry of ``source`` (one made for the same settings is kept)
    and remove the entries of earlier versions of the same file; returns the entry's folder.

    Raises:
        OSError: the cache folder cannot be made.
    """
    root.mkdir(parents=True, exist_ok=True)
    folder = root / source.key()
    if not _made_for(_stored(folder), source, prepared.schema):
        shutil.rmtree(folder, ignore_errors=True)
        _write(root, folder, _meta(source, prepared), prepared.tensors)
    path, stamp = source.data_path, source.stamp()
    for other in root.iterdir():
        stored = _stored(other)
        if stored.get("data_path") == path and stored.get("stamp") != stamp:
            shutil.rmtree(other, ignore_errors=True)
    return folder


def _meta(source: Source, prepared: Prepared) -> dict[str, Any]:
    tensors = prepared.tensors
    return {
        "version": CACHE_VERSION, "data_path": source.data_path, "stamp": source.stamp(),
        "made_for": {"target": source.target, "task": source.task,
                     "positive_class": source.positive_class, "seed": source.seed,
                     "column_choices": source.column_choices.to_dict()},
        "fingerprint": prepared.fingerprint, "columns": list(prepared.columns),
        "n_rows": prepared.n_rows, "validation": dataclasses.asdict(prepared.validation),
        "folds": prepared.folds.encode() if prepared.folds else "",
        "preprocessor": prepared.preprocessor.to_dict(),
        "tensors": {f.name: getattr(tensors, f.name) for f in dataclasses.fields(tensors)
                    if f.name not in _TENSORS},
    }


def _write(root: Path, folder: Path, meta: dict[str, Any], tensors: TensorSplits) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    try:
        for name in _TENSORS:
            np.save(tmp / f"{name}.npy", getattr(tensors, name).cpu().numpy())
        (tmp / _META).write_text(json.dumps(meta))
        os.rename(tmp, folder)
    except OSError:  # another process saved it first, or the disk is full: no entry is fine
        shutil.rmtree(tmp, ignore_errors=True)


def _made_for(meta: dict[str, Any], source: Source, schema: Schema) -> bool:
    """Whether an entry's ``meta`` says it serves ``source`` (a damaged one: no)."""
    try:
        return source.fits(meta["made_for"], schema)
    except (KeyError, TypeError):
        return False


def _stored(folder: Path) -> dict[str, Any]:
    """An entry's meta data (empty: none, or not readable)."""
    try:
        return dict(json.loads((folder / _META).read_text()))
    except (OSError, ValueError, TypeError):
        return {}
