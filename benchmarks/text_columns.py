"""A free-text column that carries the signal: what the search makes of it.

A generated table of 1,500 customer messages (``message``: a unique order number and 6–10
words, as a support inbox exports them), with ``tenure`` and ``plan`` beside them, and whether
the customer left (``y``). Leaving depends on tenure a little and on the message much more:
``refund`` or ``cancel`` in it, against ``thanks`` or ``great``. Until automl read a text
column's words it dropped ``message`` as free text. For each seed, ``automl search`` (3
trials, defaults otherwise) in a fresh folder, scored by the final model's test ROC-AUC as the
search prints it. Run it from two checkouts to compare them:

``PYTHONPATH=CHECKOUT .venv/bin/python benchmarks/text_columns.py [--seeds 0,1,2]``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from multiseed import generated_table_main

FILLER = ("my order has not arrived yet and the box was late please check the delivery "
          "address for me today when will it come back from your store I ordered two items "
          "last week")
LEAVING, STAYING = ("refund", "cancel"), ("thanks", "great")


def write_table(path: Path) -> None:
    """The table: ``tenure`` (months), ``plan`` (3 levels), ``message`` and ``y``."""
    rng = np.random.default_rng(3)
    n = 1500
    tenure = rng.integers(1, 60, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    tone = rng.choice([-1, 0, 1], n, p=[0.3, 0.4, 0.3])  # -1: leaving words, 1: staying words
    messages = []
    for i, t in enumerate(tone):
        words = list(rng.choice(FILLER.split(), rng.integers(6, 11)))
        if t:
            words.insert(int(rng.integers(len(words))), str(rng.choice(
                LEAVING if t < 0 else STAYING)))
        messages.append(f"Order #{100_000 + i}: " + " ".join(words))
    logit = -1.0 - 2.5 * tone - 0.02 * (tenure - 30)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame({"tenure": tenure, "plan": plan, "message": messages,
                  "y": y}).to_csv(path, index=False)


def main() -> None:
    generated_table_main(__doc__, write_table, "roc_auc", "ROC-AUC", ".4f")


if __name__ == "__main__":
    main()
