"""Write a file so that it appears complete or not at all: a killed job never leaves a file that looks done."""
from __future__ import annotations

import contextlib
import errno
import glob
import os
import tempfile
from pathlib import Path
from typing import Iterator

FULL = (errno.ENOSPC, errno.EDQUOT)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(path, suffix: str = ".tmp") -> list[Path]:
    """Delete the temporaries that killed writers of ``path`` left behind (only its writer calls this)."""
    path = Path(path)
    stale = list(path.parent.glob(f".{glob.escape(path.name)}.*{suffix}")) if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds, else delete it.

    Temporaries of earlier, killed writers of the same path are removed first. The file gets the mode
    a plain ``open`` would give (0666 less the umask), not mkstemp's 0600, so a lab can share results.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.errno in FULL:  # the writers' own messages name the temporary, or nothing
            raise OSError(err.errno, f"{path}: the disk is full (or over quota) while writing it "
                                     f"({os.strerror(err.errno)}); nothing was written there; free space and "
                                     "rerun the job") from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def full_disk_error(err: BaseException) -> bool:
    """Whether ``err`` says the disk is full: an OSError with ENOSPC/EDQUOT, or an HDF5 error whose message
    carries that errno (h5py raises RuntimeError or OSError there, depending on its version)."""
    if isinstance(err, OSError) and err.errno in FULL:
        return True
    text = str(err)
    return any(f"errno = {code}" in text for code in FULL) or "No space left on device" in text
