"""The ``automl`` command line: parse, build a config, call one library function, render.

Commands live in modules by what they do with a study: :mod:`~automl.cli.search` runs one
(``search``, ``resume``, ``worker``), :mod:`~automl.cli.results` reads it (``show``,
``studies``, ``report``), :mod:`~automl.cli.models` uses its model (``predict``,
``importance``, ``export``, ``ui``). :mod:`~automl.cli.common` holds the app, the shared
options and the error mapping; :mod:`~automl.cli.render` what a search shows (its plan,
progress, leaderboard and summary).
"""

# Each module registers its commands; the order here is the order of `automl --help`.
from automl.cli import search, results, models  # noqa: F401, I001
from automl.cli.common import app, err, out

__all__ = ["app", "err", "out"]
