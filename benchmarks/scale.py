"""Big-data benchmark (issue 13): a generated table of N rows searched within a budget.

The generator is fixed by its seed: 44 numeric columns (a nonlinear signal in 12 of them, the
rest noise; 5% of one column missing) and 5 categoricals of 3, 10, 100, 1,000 and 5,000 levels
(the three smallest carry an effect), and a binary target drawn from the true logit. The
training CSV and a fresh 50,000-row test set come from the same generator (the test rows from
a different stream). The Bayes-optimal ROC-AUC is that of the true logit on the test rows: the
ceiling any model can reach.

``automl search`` runs as a user runs it (a subprocess, its own stores in a temporary folder,
``--timeout``); the script records the wall time from launch to the first finished trial, the
trials finished, the peak resident memory of the whole process tree (``/proc``, sampled every
0.2 s), the final model's ROC-AUC on the test rows (``automl predict``), and HistGradientBoosting
with default parameters on the same rows for orientation. Then, in fresh processes, the seconds
a continuation of the study (``resume``, a worker) takes to prepare its data: from the CSV, and
from the cache the search saved (:mod:`automl.cache`; nan for a table too small to cache).

Usage: ``.venv/bin/python benchmarks/scale.py --rows 1000000 --timeout 900 [--seed 0]
[--keep DIR]`` (a kept folder's tables are reused by the next run with the same rows
and seed); prints one Markdown table row (and ``--output`` appends it to a file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

N_NUMERIC = 44
LEVELS = (3, 10, 100, 1_000, 5_000)
CHUNK = 250_000
TEST_ROWS = 50_000
TARGET = "y"


def generate(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows and their true logits."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, N_NUMERIC)).astype(np.float32)
    logit = (1.5 * np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.8 * (x[:, 3] ** 2 - 1)
             + np.abs(x[:, 4]) - 0.8 + 0.7 * x[:, 5] - 0.5 * x[:, 6]
             + np.where(x[:, 7] > 0.5, 1.0, -0.3) + 0.6 * np.tanh(3 * x[:, 8] * x[:, 9])
             + 0.4 * x[:, 10] * np.abs(x[:, 11]))
    frame = pd.DataFrame(x, columns=[f"num{i}" for i in range(N_NUMERIC)])
    effects = np.random.default_rng(12345)  # the same level effects in every chunk and seed
    for j, levels in enumerate(LEVELS):
        codes = rng.integers(0, levels, n)
        if j < 3:
            logit += effects.normal(0.0, 0.7, levels)[codes]
        frame[f"cat{j}"] = pd.Series(codes).map(lambda c, j=j: f"c{j}_{c}")
    frame.loc[rng.random(n) < 0.05, "num12"] = np.nan
    frame[TARGET] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    return frame, logit


def write_table(path: Path, n: int, seed: int) -> None:
    """``n`` rows to ``path`` in chunks (a 10M-row table never sits in memory whole)."""
    for start in range(0, n, CHUNK):
        frame, _ = generate(min(CHUNK, n - start), seed * 1_000_003 + start // CHUNK)
        frame.to_csv(path, mode="a" if start else "w", header=start == 0, index=False,
                     float_format="%.5g")


def write_tables(folder: Path, rows: int, seed: int) -> None:
    """The training and test CSVs of ``rows`` and ``seed`` in ``folder``; a kept folder that
    already holds them (``made.json`` says for which rows and seed) is reused, as the
    generator is deterministic, and an earlier run's stores beside them are removed."""
    made, stamp = folder / "made.json", {"rows": rows, "seed": seed}
    if made.exists() and json.loads(made.read_text()) == stamp:
        for old in set(folder.iterdir()) - {made, folder / "train.csv", folder / "test.csv"}:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        print(f"reusing the generated tables in {folder}", file=sys.stderr, flush=True)
        return
    made.unlink(missing_ok=True)
    started = time.monotonic()
    write_table(folder / "train.csv", rows, seed)
    test, _ = generate(TEST_ROWS, seed * 1_000_003 + 999_999)
    test.to_csv(folder / "test.csv", index=False, float_format="%.5g")
    made.write_text(json.dumps(stamp))
    print(f"generated {rows:,} rows ({(folder / 'train.csv').stat().st_size / 1e6:,.0f} MB) "
          f"in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


class TreeMemory:
    """The peak summed RSS of a process and its descendants, sampled from ``/proc``."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak = max(self.peak, sum(_rss(pid) for pid in _tree(self.pid)))


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True, slots=True)
class Result:
    rows: int
    timeout: float
    wall: float
    first_trial: float
    complete: int
    pruned: int
    peak_rss: int
    test_auc: float
    bayes_auc: float
    hgb_auc: float
    hgb_seconds: float
    read_seconds: float = float("nan")  # a continuation preparing the data from the CSV
    cached_seconds: float = float("nan")  # ... and from the study's cache (nan: no entry)


def run(rows: int, timeout: float, seed: int, folder: Path) -> Result:
    train_csv, test_csv = folder / "train.csv", folder / "test.csv"
    write_tables(folder, rows, seed)
    test = pd.read_csv(test_csv)  # the rows as the CSV holds them
    _, logit = generate(TEST_ROWS, seed * 1_000_003 + 999_999)
    stores = ["--storage", f"sqlite:///{folder / 'optuna.db'}",
              "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    cli = [sys.executable, "-m", "automl"]
    launched, wall_clock = time.monotonic(), time.time()
    process = subprocess.Popen([*cli, "search", str(train_csv), "--target", TARGET,
                                "--study", "scale", "--timeout", str(timeout),
                                "--seed", str(seed), *stores])
    memory = TreeMemory(process.pid)
    code = process.wait()
    peak, wall = memory.stop(), time.monotonic() - launched
    if code != 0:
        raise SystemExit(f"automl search exited {code}")
    study = optuna.load_study(study_name="scale", storage=stores[1])
    finished = [t for t in study.trials if t.datetime_complete is not None
                and t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    first = min(t.datetime_complete.timestamp() for t in finished) - wall_clock
    out = folder / "predictions.csv"
    subprocess.run([*cli, "predict", "scale", str(test_csv), "-o", str(out), *stores],
                   check=True, capture_output=True)
    proba = pd.read_csv(out)["proba_1"]
    read_s, _ = prepare_seconds(folder, cached=False)
    cached_s, cached = prepare_seconds(folder, cached=True)
    hgb_start = time.monotonic()
    train = pd.read_csv(train_csv, nrows=min(rows, 1_000_000))
    x_train, x_test = hgb_features(train), hgb_features(test, train)
    hgb = HistGradientBoostingClassifier(random_state=seed, categorical_features="from_dtype")
    hgb.fit(x_train, train[TARGET])
    hgb_auc = roc_auc_score(test[TARGET], hgb.predict_proba(x_test)[:, 1])
    return Result(rows=rows, timeout=timeout, wall=wall, first_trial=first,
                  complete=sum(t.state.name == "COMPLETE" for t in finished),
                  pruned=sum(t.state.name == "PRUNED" for t in finished), peak_rss=peak,
                  test_auc=roc_auc_score(test[TARGET], proba),
                  bayes_auc=roc_auc_score(test[TARGET], logit),
                  hgb_auc=hgb_auc, hgb_seconds=time.monotonic() - hgb_start,
                  read_seconds=read_s, cached_seconds=cached_s if cached else float("nan"))


_PREPARE = """
import dataclasses, json, os, resource, sys, time
from automl.plan import prepare_search
from automl.queries import resume_config
folder, cached = sys.argv[1], sys.argv[2] == "1"
cfg = resume_config(f"sqlite:///{folder}/optuna.db", "scale", timeout_s=60.0)
if not cached:  # a storage URL with no cache beside it
    os.makedirs(f"{folder}/elsewhere", exist_ok=True)
    cfg = dataclasses.replace(cfg, storage_url=f"sqlite:///{folder}/elsewhere/none.db")
started = time.monotonic()
plan = prepare_search(cfg)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps([time.monotonic() - started, plan.cached, peak]))
"""


def prepare_seconds(folder: Path, *, cached: bool) -> tuple[float, bool]:
    """Seconds a continuation of the study (``resume``, a worker) takes to prepare its data, in
    a fresh process, from the CSV or from the study's cache; and whether the cache was used.
    The process's peak resident memory is printed to stderr."""
    done = subprocess.run([sys.executable, "-c", _PREPARE, str(folder), "1" if cached else "0"],
                          check=True, capture_output=True, text=True)
    seconds, used, peak = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"prepared from the {'cache' if used else 'CSV'} in {seconds:.1f} s, peak RSS "
          f"{peak / 2**30:.2f} GiB", file=sys.stderr, flush=True)
    return float(seconds), bool(used)


def hgb_features(frame: pd.DataFrame, train: pd.DataFrame | None = None) -> pd.DataFrame:
    """HGB's inputs: categoricals of at most 255 levels (its limit) as pandas categoricals,
    larger ones as their level's number, both with the training rows' levels."""
    out = frame.drop(columns=TARGET)
    for j, levels in enumerate(LEVELS):
        known = (frame if train is None else train)[f"cat{j}"].astype("category").cat.categories
        coded = pd.Categorical(out[f"cat{j}"], categories=known)
        out[f"cat{j}"] = coded if levels <= 255 else pd.Series(coded.codes, index=out.index)
    return out


HEADER = ("| rows | --timeout | wall | first trial finished | trials (complete/pruned) | "
          "peak RSS | test ROC-AUC | Bayes ROC-AUC | gap | HGB (≤ 1M rows) | "
          "continuation's data: CSV / cache |\n|---|---|---|---|---|---|---|---|---|---|---|")


def row(r: Result) -> str:
    return (f"| {r.rows:,} | {r.timeout:g} s | {r.wall:.0f} s | {r.first_trial:.0f} s | "
            f"{r.complete + r.pruned} ({r.complete}/{r.pruned}) | {r.peak_rss / 2**30:.2f} GiB | "
            f"{r.test_auc:.4f} | {r.bayes_auc:.4f} | {r.bayes_auc - r.test_auc:.4f} | "
            f"{r.hgb_auc:.4f} ({r.hgb_seconds:.0f} s) | {r.read_seconds:.1f} s / "
            f"{r.cached_seconds:.1f} s |")


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--output", type=Path, default=None, help="append the row here")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args.rows, args.timeout, args.seed, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="automl-scale-") as tmp:
            result = run(args.rows, args.timeout, args.seed, Path(tmp))
    text = f"{HEADER}\n{row(result)}"
    print(text)
    print(json.dumps(dataclasses.asdict(result)), file=sys.stderr)
    if args.output is not None:
        with args.output.open("a") as fh:
            fh.write(row(result) + "\n")
    return result


if __name__ == "__main__":
    main()
