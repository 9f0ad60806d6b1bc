"""Memory of preparing a search's data, step by step (issue 13): read, split, fit, encode.

Runs the steps of :func:`automl.plan.prepare_search` on a CSV in this process and prints,
after each, the seconds so far, the peak resident memory so far and the memory held now
(``/proc``; Linux). The last step hands the C heap's freed pages back, as the search does.

Usage: ``.venv/bin/python benchmarks/prepare_memory.py /tmp/scale10m/train.csv --target y``
(``scale.py --keep DIR`` leaves its generated tables in ``DIR``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from automl.data import load_dataset
from automl.features import Preprocessor
from automl.folds import choose_validation
from automl.heap import release_free_memory
from automl.splits import split

GIB = 2**30


def _held() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / GIB


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--target", default=None)
    args = parser.parse_args(argv)
    started = time.monotonic()
    print("| step | seconds | peak RSS so far | RSS held |\n|---|---|---|---|")

    def step(name: str) -> None:
        print(f"| {name} | {time.monotonic() - started:.1f} | {_peak():.2f} GiB | "
              f"{_held():.2f} GiB |", flush=True)

    step("start (imports)")
    dataset = load_dataset(args.csv, args.target)
    schema, frame = dataset.schema, dataset.frame
    del dataset
    step(f"read {len(frame):,} rows")
    validation = choose_validation(len(frame), None, None, min(schema.class_counts, default=None))
    val_fraction = 0.0 if validation.cross_validated else validation.val_fraction
    splits = split(frame, schema, seed=0, val_fraction=val_fraction,
                   test_fraction=validation.test_fraction)
    del frame
    step("split (the table dropped)")
    preprocessor = Preprocessor(schema).fit(splits.train)
    step("preprocessing fitted")
    tensors = preprocessor.tensors(splits)
    step(f"tensors built ({tensors.x_train.shape[1]} inputs)")
    del splits
    release_free_memory()
    step("splits dropped, heap handed back")


if __name__ == "__main__":
    main()
