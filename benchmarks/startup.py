"""How long the command line takes to answer before it does any work, and what it loads.

The usages, and ``automl studies`` of a storage holding one (empty) study. Each command runs
``--runs`` times in a fresh interpreter (the first run is a warm-up, not counted); the median
wall time is printed with the heavy libraries the process imported. Run it from a checkout
(``python -m automl`` imports the checkout in the current folder), and from a checkout of
another commit to compare:

    .venv/bin/python benchmarks/startup.py [--runs 6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

COMMANDS = (["--help"], ["search", "--help"], ["predict", "--help"], ["studies", "--storage"])
HEAVY = ("torch", "sklearn", "optuna", "mlflow", "pandas")
_PROBE = ("import sys; sys.argv = ['automl', *sys.argv[1:]]\n"
          "from automl.cli import app\n"
          "try:\n    app()\nexcept SystemExit:\n    pass\n"
          f"print('loaded:', ','.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')")


def seconds(args: list[str], runs: int) -> tuple[float, str]:
    """The median wall seconds of ``python -m automl ARGS`` and what one run loaded."""
    walls = []
    for run in range(runs + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "automl", *args], capture_output=True, check=True)
        if run:
            walls.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                           text=True, check=True)
    return statistics.median(walls), probe.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    runs = parser.parse_args().runs
    print("| command | wall (median) | heavy libraries loaded |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'studies.db'}"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.create_study(study_name="s", storage=storage)
        for args in COMMANDS:
            full = [*args, storage] if args[-1] == "--storage" else args
            wall, loaded = seconds(full, runs)
            print(f"| `automl {' '.join(args)}` | {wall:.2f} s | "
                  f"{loaded.removeprefix('loaded: ')} |")


if __name__ == "__main__":
    main()
