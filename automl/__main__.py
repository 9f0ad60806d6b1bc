"""``python -m automl`` runs the command line."""

from automl.cli import app

app()
