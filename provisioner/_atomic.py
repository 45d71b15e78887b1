"""Files that appear whole or not at all, and never over a file by surprise.

    check_output("rows.csv", overwrite=False)        # before any work
    with atomic_output("rows.csv") as temp:          # write temp; renamed at the end
        ...

The temporary file sits beside the target as
``.NAME.PID-RANDOM.hzg-tmp``. On any exception or interrupt it is removed;
if the process is killed outright (SIGKILL, power loss) it stays, and the
next write of the same target removes every such file whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from provisioner.errors import ConfigError, OutputFileError

TEMP_SUFFIX = ".hzg-tmp"


def _folder(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def _temp_path(target: Path) -> Path:
    return _folder(target) / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files of ``target`` left by killed processes."""
    target = Path(target)
    removed = []
    pattern = f".{glob.escape(target.name)}.*-*{TEMP_SUFFIX}"
    for temp in _folder(target).glob(pattern):
        middle = temp.name[len(target.name) + 2:-len(TEMP_SUFFIX)]
        pid_text = middle.split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            with contextlib.suppress(OSError):
                temp.unlink()
                removed.append(temp)
    return removed


def check_output(target: str | os.PathLike[str], *, overwrite: bool = False,
                 what: str = "output") -> Path:
    """Refuse, before any work starts, an output that cannot be written.

    Checks that the folder exists and takes a new file (by creating and
    removing one: permission bits lie to root), that ``target`` is not a
    folder or a special file, and that it does not exist unless
    ``overwrite``.
    """
    target = Path(target)
    folder = _folder(target)
    if not folder.is_dir():
        raise ConfigError(f"folder {folder} does not exist; create it or choose another "
                          f"{what} path")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputFileError(f"cannot write {what} {target}: {exc.strerror}") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{what} {target} is a folder; give a file name")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what} {target} is not a regular file; choose another path")
        if not overwrite:
            raise ConfigError(f"{what} {target} already exists; pass --force to replace it")
    probe = _temp_path(target)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputFileError(
            f"cannot write {what} {target}: {exc.strerror}; choose a folder you can write to"
        ) from None
    return target


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], *, overwrite: bool = True,
                  what: str = "output") -> Iterator[str]:
    """Yield a temporary path beside ``target``; on success it becomes ``target``.

    On any exception (or interrupt) the temporary file is removed and
    ``target`` is left as it was. With ``overwrite=False`` an existing
    ``target`` is never replaced, not even one created meanwhile. OS errors
    (a full disk, a lost permission) become :class:`OutputFileError`. The
    result gets the usual permissions (0644 less the umask).
    """
    target = Path(target)
    check_output(target, overwrite=overwrite, what=what)
    remove_stale_temps(target)
    temp = _temp_path(target)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as exc:
        raise OutputFileError(f"cannot write {what} {target}: {exc.strerror}") from None
    try:
        try:
            yield str(temp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o644 & ~umask)
            _publish(temp, target, overwrite)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            hint = ("free some space or choose another folder"
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "nothing was written")
            raise OutputFileError(
                f"cannot write {what} {target}: {exc.strerror or exc}; {hint}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _publish(temp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)  # fails if target exists: no clobbering, atomically
    except FileExistsError:
        raise ConfigError(f"{target} appeared while writing; it was left as it is") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if target.exists():  # no hard links here: best effort
            raise ConfigError(f"{target} appeared while writing; it was left as it is") \
                from None
        os.replace(temp, target)
        return
    temp.unlink()
