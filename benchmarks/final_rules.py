"""Replay the final step of kept small-data searches under other ways to choose the final model.

For each folder that ``small_data.py --keep DIR`` kept (``DIR/<dataset>-<seed>``): the study's
ensemble pool as the search's final step saw it (its top trials and each family's best, with
their out-of-fold outputs and bags), then the test score, on the benchmark's 30% of that seed,
of the weights each rule gives the pool:

* ``current``: :func:`automl.final.choose_ensemble`, what the search built;
* ``bagged``: greedy selection on 20 bootstrap samples of the out-of-fold rows, its weights
  averaged (the bagged ensemble selection of Caruana et al. 2006);
* ``foldwise``: ``current`` with the metric averaged over the folds, as a trial's value is,
  instead of computed once on the pooled out-of-fold outputs (every table of the benchmark is
  small enough to be cross-validated);
* ``uniform``: the pool's top :data:`~automl.final.TOP_K` (five) trials, equal weights;
* ``linear``: the pool's linear trial alone;
* ``blend``: half ``linear``, half ``current``.

The scores are of the weighted average of the members' probabilities (or values): what the
final bundle predicts, but for its temperature, which changes neither ROC-AUC nor accuracy. The
same searches under every rule, so the rules differ only in the choice. Prints one row per split
and the means per dataset beside the linear baseline (``small_data.linear``).

Usage: ``.venv/bin/python benchmarks/small_data.py --keep DIR`` then
``.venv/bin/python benchmarks/final_rules.py DIR [--output FILE]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import optuna
from multiseed import publish
from small_data import DATASETS, TARGET, linear, outer_split

from automl.config import SearchConfig
from automl.data import encode_target
from automl.final import TOP_K, _fetch, _score, choose_ensemble, ensemble_selection
from automl.metrics import Metric, predictions
from automl.objective import candidates
from automl.plan import SearchPlan, prepare_search
from automl.tracking import MlflowTracker

STUDY = "bench"  # small_data.py's study name
BAGS = 20
RULES = ("current", "bagged", "foldwise", "uniform", "linear", "blend")


def bagged(metric: Metric, outputs: list[np.ndarray], y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Greedy selection's weights averaged over :data:`BAGS` bootstrap samples of the rows."""
    rng = np.random.default_rng(seed)
    total = np.zeros(len(outputs))
    for _ in range(BAGS):
        rows = rng.choice(len(y), len(y), replace=True)
        total += ensemble_selection([o[rows] for o in outputs], y[rows], metric).weights
    return total / total.sum()


def foldwise(metric: Metric, assignment: np.ndarray) -> Metric:
    """``metric`` averaged over the folds of ``assignment`` (a fold number per row)."""
    folds = range(int(assignment.max()) + 1)

    def fn(y: np.ndarray, output: np.ndarray) -> float:
        return float(np.mean([metric.fn(y[assignment == f], output[assignment == f])
                              for f in folds]))

    return Metric(name=metric.name, direction=metric.direction, fn=fn)


def chosen(metric: Metric, outputs: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    """:func:`choose_ensemble`'s weights, or the best trial's alone."""
    selection = choose_ensemble(outputs, y, metric)
    return selection.weights if selection is not None else np.eye(len(outputs))[0]


def rule_weights(plan: SearchPlan, families: list[str], outputs: list[np.ndarray],
                 y: np.ndarray) -> dict[str, np.ndarray]:
    """Each rule's weights over the pool (best trial first); ``linear`` and ``blend`` only
    when the pool holds a linear trial."""
    metric, k = plan.metric, len(outputs)
    top = min(TOP_K, k)
    weights = {"current": chosen(metric, outputs, y), "bagged": bagged(metric, outputs, y),
               "foldwise": chosen(foldwise(metric, plan.folds.assignment), outputs, y),
               "uniform": np.r_[np.ones(top), np.zeros(k - top)] / top}
    if "linear" in families:
        weights["linear"] = np.eye(k)[families.index("linear")]
        weights["blend"] = (weights["linear"] + weights["current"]) / 2
    return weights


def replay(folder: Path) -> tuple[str, dict[str, float], float]:
    """The dataset of ``folder``, each rule's test score and the linear baseline's."""
    name, seed = folder.name.rsplit("-", 1)
    load, task = DATASETS[name]
    train, test = outer_split(load(), task, int(seed))
    storage = f"sqlite:///{folder}/studies/optuna.db"
    tracking = f"sqlite:///{folder}/mlruns/mlflow.db"
    plan = prepare_search(SearchConfig(csv_path=folder / "train.csv", target=TARGET,
                                       study_name=STUDY, storage_url=storage,
                                       tracking_uri=tracking))
    study = optuna.load_study(study_name=STUDY, storage=storage)
    x_test = test.drop(columns=TARGET)
    with tempfile.TemporaryDirectory() as tmp:
        members = _fetch(candidates(study), MlflowTracker(tracking, STUDY), Path(tmp))
    outputs = [output for _, _, output in members]
    tests = [predictions(plan.task, bundle.raw_output(x_test)) for _, bundle, _ in members]
    y_test = encode_target(test[TARGET], plan.preprocessor.schema)
    families = [str(c.params.get("arch")) for c, _, _ in members]
    weights = rule_weights(plan, families, outputs, plan.selection_targets())
    scores = {rule: _score(plan.metric, y_test, sum(w * t for w, t in zip(ws, tests, strict=True)))
              for rule, ws in weights.items()}
    return name, scores, linear(task, train, test).primary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, help="the folder of small_data.py --keep")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    head = ["| dataset | split | " + " | ".join(RULES) + " | linear baseline |",
            "|---" * (len(RULES) + 3) + "|"]
    lines, by_dataset = list(head), {}
    for folder in sorted(p for p in args.kept.iterdir() if p.is_dir()):
        name, scores, baseline = replay(folder)
        by_dataset.setdefault(name, []).append((scores, baseline))
        row = [f"{scores[r]:.4f}" if r in scores else "–" for r in RULES]
        lines.append(f"| {name} | {folder.name} | " + " | ".join(row) + f" | {baseline:.4f} |")
        print(lines[-1], flush=True)
    lines += ["", *head]
    for name, rows in by_dataset.items():
        means = [np.mean([s[r] for s, _ in rows]) if all(r in s for s, _ in rows) else np.nan
                 for r in RULES]
        baseline = float(np.mean([b for _, b in rows]))
        lines.append(f"| {name} | mean of {len(rows)} | " +
                     " | ".join("–" if np.isnan(m) else f"{m:.4f}" for m in means) +
                     f" | {baseline:.4f} |")
    publish(lines, args.output)


if __name__ == "__main__":
    main()
