"""Reading files that someone else chose: regular files only, with a size cap.

``open()`` on a FIFO blocks until a writer appears, and ``read()`` on
``/dev/zero`` never ends. Every file HZG reads on a user's behalf (bundles,
keys, trust folders, schema and config files) goes through
:func:`read_capped`, which opens without blocking, refuses anything that is
not a regular file, and never reads more than the cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from provisioner.errors import HzgError

MiB = 1024 * 1024
# Small text files: keys, trust files, schema and config files.
TEXT_FILE_LIMIT = 16 * MiB


def read_capped(path: str | os.PathLike[str], *, limit: int, what: str,
                error: type[HzgError], too_big: type[HzgError] | None = None) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Args:
      path: the file.
      limit: the most bytes accepted; a larger file is refused unread.
      what: how messages name the file ("bundle", "public key").
      error: the error raised when the file cannot be read.
      too_big: the error raised when it is larger than ``limit`` (default
        ``error``).
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a
        # writer; the fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_NOCTTY", 0))
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise error(f"{what} {path} is {kind} (FIFOs and devices are refused); "
                        "give a regular file")
        if info.st_size > limit:
            raise (too_big or error)(
                f"{what} {path} is {info.st_size:,} bytes, above the {limit:,}-byte "
                "limit; it cannot be a valid file")
        os.set_blocking(fd, True)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 8 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # it grew while we read it
        raise (too_big or error)(f"{what} {path} is above the {limit:,}-byte limit")
    return data
