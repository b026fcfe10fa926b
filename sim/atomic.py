"""The one atomic writer: a file, or a whole folder, appears complete or not at all.

`write_file` writes into a hidden temporary file beside the target and renames
it into place (`os.replace`), so a reader never sees half a file, whatever
kills the writer. `write_folder` does the same for a set of files: it fills a
hidden sibling folder and swaps it in, so `--out DIR` holds one run's files or
the previous run's, never a mix. Temporary names carry the writer's process id;
a later writer removes those of dead processes, so a killed writer leaves
nothing behind for long.

Every failure is an `OSError` subclass, `WriteError`, whose text names the
path and says what went wrong in one line.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

PARTIAL = ".partial-"     # hidden siblings: .<name>.partial-<pid>-<random>
OLD = ".old-"             # the previous folder while the new one is swapped in: .<name>.old-<pid>


class WriteError(OSError):
    """A write failed; `str()` is one line naming the path."""

    def __init__(self, code: int | None, message: str):
        super().__init__(message)
        self.errno, self.message = code, message

    def __str__(self) -> str:
        return self.message


def probe(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be made in it (WriteError if not), before any work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".probe{PARTIAL}{os.getpid()}-", dir=folder))
    except OSError as err:
        raise WriteError(err.errno, f"{folder}: cannot write there ({describe(err)})") from None


def describe(err: OSError) -> str:
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a file is in the way where a folder should be"
    if err.errno == errno.EISDIR:
        return "it is a folder"
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    if err.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.EROFS:
        return "read-only file system"
    return err.strerror or str(err)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str, tag: str) -> int | None:
    m = re.search(re.escape(tag) + r"(\d+)", name)
    return int(m.group(1)) if m else None


def clean_stale(folder: Path, prefix: str = "") -> None:
    """Remove temporary files and folders in `folder` left by writers that are no longer running."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for p in entries:
        if not p.name.startswith("." + prefix):
            continue
        for tag in (PARTIAL, OLD):
            pid = _owner(p.name, tag)
            if pid is None or _alive(pid):
                continue
            if tag == OLD:
                target = folder / p.name[1:p.name.index(OLD)]
                if not target.exists():          # killed between the two renames: put the old folder back
                    os.replace(p, target)
                    continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def write_file(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to fill a hidden temporary file beside `path` (making its folder if
    needed), then move it into place. An exception in `write` (a check of what it wrote, say)
    leaves `path` as it was."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{PARTIAL}{os.getpid()}-", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as err:
        raise WriteError(err.errno, f"{path}: cannot write ({describe(err)})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_file(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_folder(out: str | Path, fill: Callable[[Path], object], owned: Callable[[Path], bool]) -> Path:
    """Fill a hidden sibling folder with `fill(tmp)`, then swap it in for `out` as a whole.

    `owned(out)` must say whether an existing `out` may be replaced (it holds
    only files this program wrote); otherwise `WriteError` is raised before
    anything is written. An exception in `fill` leaves `out` as it was.
    """
    out = Path(out)
    parent = out.parent
    if out.exists() and not (out.is_dir() and owned(out)):
        raise WriteError(errno.EEXIST, f"{out}: exists and holds files gridsim did not write; "
                                       "give a new folder or one gridsim wrote")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale(parent, out.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{PARTIAL}{os.getpid()}-", dir=parent))
    except OSError as err:
        raise WriteError(err.errno, f"{out}: cannot write ({describe(err)})") from None
    old = parent / f".{out.name}{OLD}{os.getpid()}"
    try:
        fill(tmp)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    except OSError as err:
        if old.exists() and not out.exists():
            os.replace(old, out)
        raise WriteError(err.errno, f"{out}: cannot write ({describe(err)})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out
