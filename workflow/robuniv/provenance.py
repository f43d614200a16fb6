"""Files made from a checkpoint, checked against the checkpoint now in place when the plan is made.

Snakemake reruns a job when an input is newer than its output. A checkpoint replaced by a file with an older
modification time (``cp -p``, ``rsync -a``, ``tar x``, a copy from another cluster) escapes that rule, and every
file made from the old weights would be kept without a word. Each file made from a checkpoint records the
checkpoint's sha256 (HDF5 attribute or JSON key ``checkpoint_sha256``). Here it is compared with the file in
place, but only where that file's inode changed (its ctime, which no copy tool can set back) after the derived
file was written and Snakemake would not rerun it: the usual plan costs a few ``stat`` calls. Digests are
cached by (size, mtime, ctime, inode), so a checkout copied with ``cp -a`` hashes each checkpoint once.

Torch-free: the Snakefile calls :func:`replaced_checkpoints` on every plan, dry runs included.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Optional, Sequence


class ReplacedCheckpointError(RuntimeError):
    """A checkpoint differs from the one that files made from it record."""


def file_sha256(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def recorded_checkpoint_sha256(path) -> Optional[str]:
    """The sha256 of the checkpoint that ``path`` (an HDF5 or JSON file of the workflow) was made from;
    ``None`` where the file records none (files written before it was recorded)."""
    path = Path(path)
    if path.suffix == ".json":
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh).get("checkpoint_sha256")
    else:
        import h5py

        with h5py.File(path, "r") as fh:
            value = fh.attrs.get("checkpoint_sha256")
    return None if value is None else str(value).lower()


class DigestCache:
    """sha256 of files, remembered by (size, mtime, ctime, inode) in a JSON file (``None``: memory only)."""

    def __init__(self, store: Optional[Path] = None):
        self.store, self.digests, self.changed = store, {}, False
        if store is not None and Path(store).is_file():
            try:
                self.digests = json.loads(Path(store).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.digests = {}  # a damaged cache is rebuilt, never trusted

    @staticmethod
    def _key(st: os.stat_result) -> list:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]

    def sha256(self, path: Path) -> str:
        name, key = str(Path(path).resolve()), self._key(Path(path).stat())
        known = self.digests.get(name)
        if known is not None and known[:4] == key:
            return known[4]
        value = file_sha256(path)
        self.digests[name], self.changed = [*key, value], True
        return value

    def save(self) -> None:
        if self.store is None or not self.changed:
            return
        store = Path(self.store)
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f".{store.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.digests, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, store)


def _unnoticed_change(source: os.stat_result, derived: os.stat_result) -> bool:
    """Whether ``source`` changed after ``derived`` was written in a way Snakemake's mtime rule misses."""
    return source.st_ctime_ns > derived.st_mtime_ns and source.st_mtime_ns <= derived.st_mtime_ns


def replaced_checkpoints(made_from: Iterable[tuple[Path, Sequence[Path]]], cache: DigestCache) -> list[str]:
    """One line per checkpoint that differs from what files made from it record. ``made_from``: pairs of
    (checkpoint, the files made from it); either may be absent (not made yet)."""
    lines = []
    for checkpoint, derived in made_from:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            continue
        source = checkpoint.stat()
        stale = []
        for path in derived:
            path = Path(path)
            if not path.is_file() or not _unnoticed_change(source, path.stat()):
                continue
            recorded = recorded_checkpoint_sha256(path)
            if recorded is not None and recorded != cache.sha256(checkpoint):
                stale.append((path, recorded))
        if stale:
            path, recorded = stale[0]
            more = f" and {len(stale) - 1} more" if len(stale) > 1 else ""
            lines.append(f"{checkpoint} was replaced after {path}{more} were made from it (recorded sha256 "
                         f"{recorded[:12]}…, the file now {cache.sha256(checkpoint)[:12]}…); Snakemake would keep "
                         f"them, because the new file is not newer. Run `touch {checkpoint}` to remake what was "
                         "made from it, or put the old checkpoint back")
    return lines


def changed_local_copies(copies: Iterable[tuple[Path, Path]], cache: DigestCache) -> list[str]:
    """One line per local checkpoint file (a ``file://`` URL or a path in the config) that changed after the
    workflow copied it to resources/checkpoints/: Snakemake does not watch that file, so the copy would stay."""
    lines = []
    for original, copy in copies:
        original, copy = Path(original), Path(copy)
        if not (original.is_file() and copy.is_file()):
            continue
        if original.stat().st_ctime_ns > copy.stat().st_mtime_ns and cache.sha256(original) != cache.sha256(copy):
            lines.append(f"{original} changed after the workflow copied it to {copy}; delete {copy} to use the new "
                         "file (what was made from the old one is then remade), or put the old file back")
    return lines


def check_checkpoints(made_from: Iterable[tuple[Path, Sequence[Path]]], copies: Iterable[tuple[Path, Path]],
                      cache: DigestCache) -> None:
    """:class:`ReplacedCheckpointError` listing every replaced checkpoint and changed local checkpoint file;
    the digests computed on the way are saved either way."""
    try:
        lines = changed_local_copies(copies, cache) + replaced_checkpoints(made_from, cache)
    finally:
        cache.save()
    if lines:
        raise ReplacedCheckpointError("\n".join(lines))
