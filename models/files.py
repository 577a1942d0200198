"""Atomic output files: an interrupted write never leaves a file that looks complete,
and an existing file is never replaced unless the caller asks."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import ResultError


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Raise :class:`ResultError` unless ``path`` can be written: its directory exists
    and takes new files, and ``path`` is not there already (unless ``overwrite``).

    Called before any work, so that a bad output path costs nothing.  A missing
    directory is not created: a typo would otherwise scatter results.
    """
    path = Path(path)
    if path.is_dir():
        raise ResultError(f"output {path} is a directory; name a file in it")
    if path.exists() and not overwrite:
        raise ResultError(f"output {path} already exists; pass --overwrite to replace it")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ResultError(f"output directory {parent} {what}; create it first or name another")
    # Create and remove a probe file: permission bits alone do not bind root, and a
    # read-only mount or an immutable directory shows only when a file is created.
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise ResultError(f"output directory {parent} is not writable ({err.strerror}); "
                          "name a writable directory") from None
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Raises :class:`ResultError` (see :func:`check_output`) before anything is
    written.  On any exception the temporary file is removed.
    """
    path = check_output(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
