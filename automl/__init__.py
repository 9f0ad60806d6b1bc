"""automl: hyperparameter search for tabular data with Optuna and PyTorch, tracked in MLflow.

The command line (``automl search data.csv``) is the main entry point; the library API below
is what it calls. ``prepare_search``, ``run_search`` and ``SearchSummary`` are imported on
first use, so that ``import automl`` (and ``automl --help``) does not load PyTorch.
"""

from typing import TYPE_CHECKING, Any

from automl.config import SearchConfig, TrainConfig
from automl.errors import AutoMLError, ConfigError, DataError, StudyMismatchError, TrialError

if TYPE_CHECKING:
    from automl.plan import prepare_search
    from automl.session import SearchSummary, run_search

__version__ = "0.1.0"
__all__ = [
    "AutoMLError", "ConfigError", "DataError", "SearchConfig", "SearchSummary",
    "StudyMismatchError", "TrainConfig", "TrialError", "__version__", "prepare_search",
    "run_search",
]
_LAZY = {"prepare_search": "automl.plan", "run_search": "automl.session",
         "SearchSummary": "automl.session"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
