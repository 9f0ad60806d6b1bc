"""Store URLs (interim: replaced by the stores branch)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from automl.errors import ConfigError


def mask(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return re.sub(r"((?:^|//)[^/:@\s]*:)[^@/\s]*@", r"\1***@", url)


def absolute(url: str) -> str:
    """A relative ``sqlite:///path`` made absolute, so it still works from another folder."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    return url


def check_url(url: str, option: str) -> None:
    scheme = r"^[a-zA-Z][a-zA-Z0-9+.-]*:" + ("//" if option == "--storage" else "")
    if not re.match(scheme, url) and not (option != "--storage" and url.startswith("/")):
        raise ConfigError(f"{option} {mask(url)!r} is not a URL; use e.g. "
                          "sqlite:///path/file.db or postgresql://user@host/db")


def check_sqlite(url: str, option: str) -> None:
    """Refuse a local SQLite file that cannot be created, before anything is written."""
    if not url.startswith("sqlite:///") or url.removeprefix("sqlite:///") in ("", ":memory:"):
        return
    path = Path(url.removeprefix("sqlite:///"))
    if path.is_dir():
        raise ConfigError(f"{option} {url!r} names a directory; name a database file in it, "
                          f"e.g. sqlite:///{path / 'automl.db'}")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK) or (
            path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        raise ConfigError(f"{option} {url!r}: cannot create or write the database there "
                          f"({folder} is not a writable folder); choose another path")
