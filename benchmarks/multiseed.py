"""What the multi-seed benchmarks (``quality.py``, ``small_data.py``, ``missing_words.py``,
``units.py``) share: the ``--seeds`` list, the mean ± std cells of their headline tables, a
short search's test score, and the closing table printed and written to ``--output``."""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

Run = TypeVar("Run")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]`` (blank items ignored); ``ValueError`` on a non-integer or
    when no seed is left."""
    seeds = [int(item) for item in text.split(",") if item.strip()]
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def publish(lines: Sequence[str], output: Path | None) -> None:
    """Print a benchmark's closing Markdown ``lines`` after a blank line, and write them to
    ``output`` (its ``--output``) when given."""
    text = "\n".join(lines)
    print("\n" + text)
    if output:
        output.write_text(text + "\n")


def number(value: float) -> str:
    """A score for a table: 4 decimals below 100 (ROC-AUC, accuracy, small RMSEs), else one
    decimal with thousands separators (RMSE in dollars); ``n/a`` when not finite."""
    return _digits(value, value) if math.isfinite(value) else "n/a"


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` over seeds (sample std; 0 for a single value), both with the digits
    :func:`number` gives the mean; ``n/a`` if any value is not finite (a run without a score)."""
    if not all(math.isfinite(v) for v in values):
        return "n/a"
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{_digits(mean, mean)} ± {_digits(spread, mean)}"


def _digits(value: float, scale: float) -> str:
    return f"{value:.4f}" if abs(scale) < 100 else f"{value:,.1f}"


def searched_test_score(csv: Path, seed: int, metric: str, *args: str) -> float:
    """The final model's test ``metric`` as ``automl search`` of ``csv`` with ``seed`` (and
    ``args``; 3 trials unless they say otherwise) prints it, the search run in a fresh folder
    (its own stores) by the ``automl`` that ``sys.executable`` imports."""
    with tempfile.TemporaryDirectory() as folder:
        return search_in(Path(folder), csv, seed, metric, *args)


def search_in(folder: Path, csv: Path, seed: int, metric: str, *args: str) -> float:
    """:func:`searched_test_score` with the stores left in ``folder`` (study ``bench``), for
    an ``automl predict`` after it."""
    run = subprocess.run([sys.executable, "-m", "automl", "search", str(csv), "--n-trials", "3",
                          "--seed", str(seed), "--study", "bench", *args],
                         cwd=folder, capture_output=True, text=True, check=True)
    found = re.search(rf"held-out test rows.*?{metric} ([0-9.,]+)", " ".join(run.stdout.split()))
    if found is None:
        raise SystemExit(f"no test score in the search's output:\n{run.stdout}{run.stderr}")
    return float(found.group(1).replace(",", ""))


def generated_table_main(doc: str, write_table: Callable[[Path], None], metric: str,
                         label: str, digits: str,
                         variants: Mapping[str, Sequence[str]] | None = None,
                         column: str = "seeds") -> None:
    """The command line of a benchmark that searches one generated table (``write_table``
    writes it): ``--seeds``, then the test ``metric`` of each seed's short search (see
    :func:`searched_test_score`) and their mean ± std, as a Markdown row; ``digits`` formats a
    score (``.4f``). ``variants`` (row name → the search's options) gives a row each, under the
    heading ``column``; by default one row, named by its seeds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2])
    args = parser.parse_args()
    rows = variants or {",".join(map(str, args.seeds)): ()}
    print(f"| {column} | test {label} per seed | mean ± std |\n|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "table.csv"
        write_table(csv)
        for name, options in rows.items():
            scores = [searched_test_score(csv, seed, metric, *options) for seed in args.seeds]
            print(f"| {name} | {' / '.join(format(s, digits) for s in scores)} | "
                  f"{mean_std(scores)} |", flush=True)


def runs_per_table(doc: str, header: str, tables: Mapping[str, Callable[[], Any]],
                   run: Callable[[Any, int, float], Run]) -> Iterator[tuple[str, list[int],
                                                                           list[Run]]]:
    """The command line of a benchmark that searches each of ``tables`` (name → a loader of
    its frame) once per seed: ``--timeout`` (60 s a search), ``--seeds``, ``--tables`` (all);
    prints the Markdown ``header``, then gives, table by table, its name, the seeds and what
    ``run(frame, seed, timeout)`` gave for each."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2])
    parser.add_argument("--tables", default=",".join(tables))
    args = parser.parse_args()
    print(header)
    for name in args.tables.split(","):
        yield name, args.seeds, [run(tables[name](), seed, args.timeout) for seed in args.seeds]
