"""Job titles of many levels, read as categories (``--categorical title``) or as words.

A generated table of 2,000 employees: ``title`` is a seniority, a field and a role (``Senior
Data Engineer``, ``Junior Sales Manager``: 5 x 12 x 6 = 360 titles, most of them seen a few
times), beside ``years`` of experience and a ``noise`` column; the target is whether the salary
is high, which adds up the words' effects. As categories, ``title``'s levels are embedded, each
learned from its own few rows; as words (what the rules read since ``automl.data._titles``, and
what ``--text title`` asks), the network gets the words, shared across titles. For each seed,
``automl search`` (3 trials, defaults otherwise) of the table both ways, each in a fresh
folder, scored by the final model's test ROC-AUC as the search prints it:

``.venv/bin/python benchmarks/job_titles.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main

SENIORITY = ("Junior", "Associate", "Mid", "Senior", "Principal")
FIELDS = ("Data", "Sales", "Marketing", "Software", "Finance", "Product", "Support",
          "Research", "Security", "Legal", "Design", "Operations")
ROLES = ("Assistant", "Analyst", "Engineer", "Specialist", "Manager", "Director")


def write_table(path: Path) -> None:
    """The table: ``title``, ``years``, ``noise`` and ``y`` (a high salary)."""
    rng = np.random.default_rng(4)
    n = 2000
    levels = [rng.normal(0, 1, len(words)) for words in (SENIORITY, FIELDS, ROLES)]
    levels[0] = np.linspace(-1.5, 1.5, len(SENIORITY))  # seniority counts in order
    picks = [rng.integers(0, len(words), n) for words in (SENIORITY, FIELDS, ROLES)]
    titles = [" ".join(words[i] for words, i in zip((SENIORITY, FIELDS, ROLES), row,
                                                    strict=True))
              for row in zip(*picks, strict=True)]
    years = rng.integers(0, 30, n)
    logit = sum(effect[pick] for effect, pick in zip(levels, picks, strict=True)) \
        + 0.03 * (years - 15)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame({"title": titles, "years": years, "noise": rng.normal(size=n).round(3),
                  "y": y}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "roc_auc", "ROC-AUC", ".4f", variants={
        "categories (--categorical title)": ("--categorical", "title"),
        "words (the rules' reading)": ()}, column="title read as")


if __name__ == "__main__":
    main()
