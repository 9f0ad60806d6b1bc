"""automl: hyperparameter search for tabular data with Optuna and PyTorch, tracked in MLflow.

The command line (``automl search data.csv``) is the main entry point; the library API below
is what it calls.
"""

from automl.config import SearchConfig, TrainConfig
from automl.errors import AutoMLError, ConfigError, DataError, StudyMismatchError, TrialError
from automl.plan import prepare_search
from automl.session import SearchSummary, run_search

__version__ = "0.1.0"
__all__ = [
    "AutoMLError", "ConfigError", "DataError", "SearchConfig", "SearchSummary",
    "StudyMismatchError", "TrainConfig", "TrialError", "__version__", "prepare_search",
    "run_search",
]
