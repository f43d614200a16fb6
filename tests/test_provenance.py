"""Checkpoints replaced behind Snakemake's back (an older-dated file: cp -p, rsync -a, tar x) are found at plan
time by robuniv.provenance, and only where the checkpoint's inode changed after the derived file was written."""
import json
import os
import shutil

import h5py
import pytest

from robuniv import provenance as pv

PAST = 1_600_000_000  # 2020: every "old" file below is dated before the files made from it


def _checkpoint(path, content: bytes, mtime=None):
    path.write_bytes(content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _derived_h5(path, checkpoint, mtime=PAST + 100):
    with h5py.File(path, "w") as fh:
        fh.attrs["checkpoint_sha256"] = pv.file_sha256(checkpoint)
    os.utime(path, (mtime, mtime))
    return path


def _derived_json(path, checkpoint, mtime=PAST + 100):
    path.write_text(json.dumps({"checkpoint_sha256": pv.file_sha256(checkpoint)}))
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def made(tmp_path):
    """A checkpoint dated PAST, and an activation file and an evaluation record made from it at PAST + 100."""
    ckpt = _checkpoint(tmp_path / "m.ckpt", b"old weights", PAST)
    act = _derived_h5(tmp_path / "regular.h5", ckpt)
    evaluation = _derived_json(tmp_path / "m.json", ckpt)
    return ckpt, [act, evaluation]


def test_checkpoint_replaced_by_an_older_dated_file_is_named(made):
    ckpt, derived = made
    _checkpoint(ckpt, b"new weights", PAST + 50)  # cp -p of a file older than the derived ones
    lines = pv.replaced_checkpoints([(ckpt, derived)], pv.DigestCache())
    assert len(lines) == 1
    assert lines[0].startswith(f"{ckpt} was replaced after {derived[0]} and 1 more were made from it")
    assert f"touch {ckpt}" in lines[0]
    with pytest.raises(pv.ReplacedCheckpointError, match="m.ckpt was replaced"):
        pv.check_checkpoints([(ckpt, derived)], [], pv.DigestCache())


def test_a_newer_checkpoint_is_left_to_snakemake(made):
    ckpt, derived = made
    _checkpoint(ckpt, b"new weights", PAST + 500)  # newer than what was made from it: Snakemake reruns those
    assert pv.replaced_checkpoints([(ckpt, derived)], pv.DigestCache()) == []


def test_untouched_checkpoint_is_not_read(made, tmp_path, monkeypatch):
    ckpt, derived = made
    os.utime(ckpt, (PAST, PAST))  # ctime is now later than the derived files: make them newer than it instead
    for path in derived:
        os.utime(path, None)
    monkeypatch.setattr(pv, "file_sha256", lambda path: pytest.fail(f"{path} was hashed"))
    assert pv.replaced_checkpoints([(ckpt, derived)], pv.DigestCache()) == []


def test_copied_tree_with_the_same_checkpoint_passes_and_is_hashed_once(made, tmp_path, monkeypatch):
    ckpt, derived = made
    copy = tmp_path / "copy"
    copy.mkdir()
    new = [shutil.copy2(p, copy / p.name) for p in derived]
    new_ckpt = shutil.copy2(ckpt, copy / ckpt.name)  # cp -a: old mtimes, a new ctime, the same content
    store = tmp_path / ".snakemake" / "robuniv" / "sha256.json"
    cache = pv.DigestCache(store)
    assert pv.replaced_checkpoints([(new_ckpt, new)], cache) == []
    cache.save()
    assert store.is_file()
    monkeypatch.setattr(pv, "file_sha256", lambda path: pytest.fail(f"{path} was hashed again"))
    assert pv.replaced_checkpoints([(new_ckpt, new)], pv.DigestCache(store)) == []


def test_a_damaged_cache_is_rebuilt(made, tmp_path):
    ckpt, derived = made
    store = tmp_path / "sha256.json"
    store.write_text("{not json")
    _checkpoint(ckpt, b"new weights", PAST + 50)
    assert len(pv.replaced_checkpoints([(ckpt, derived)], pv.DigestCache(store))) == 1


def test_a_cached_digest_of_the_old_file_is_not_reused(made, tmp_path):
    ckpt, derived = made
    cache = pv.DigestCache()
    ckpt_stat = ckpt.stat()
    cache.digests[str(ckpt.resolve())] = [ckpt_stat.st_size, ckpt_stat.st_mtime_ns, ckpt_stat.st_ctime_ns,
                                          ckpt_stat.st_ino, pv.file_sha256(ckpt)]
    _checkpoint(ckpt, b"new weights", PAST + 50)
    assert len(pv.replaced_checkpoints([(ckpt, derived)], cache)) == 1


def test_files_that_record_no_checkpoint_and_absent_files_are_skipped(tmp_path):
    ckpt = _checkpoint(tmp_path / "m.ckpt", b"old weights", PAST)
    older = tmp_path / "old.h5"
    with h5py.File(older, "w"):
        pass  # written before checkpoints were recorded
    os.utime(older, (PAST + 100, PAST + 100))
    _checkpoint(ckpt, b"new weights", PAST + 50)
    assert pv.replaced_checkpoints([(ckpt, [older, tmp_path / "not-made-yet.h5"])], pv.DigestCache()) == []
    assert pv.replaced_checkpoints([(tmp_path / "not-trained.ckpt", [older])], pv.DigestCache()) == []


def test_local_checkpoint_changed_after_its_copy(tmp_path):
    original = _checkpoint(tmp_path / "mine.pt", b"weights", PAST)
    copy = tmp_path / "copy.ckpt"
    shutil.copyfile(original, copy)
    os.utime(copy, (PAST + 100, PAST + 100))
    assert pv.changed_local_copies([(original, copy)], pv.DigestCache()) == []  # ctime later, same content
    _checkpoint(original, b"retrained weights")  # replaced in place (newer, but not an input of the copy job)
    lines = pv.changed_local_copies([(original, copy)], pv.DigestCache())
    assert lines == [f"{original} changed after the workflow copied it to {copy}; delete {copy} to use the new "
                     "file (what was made from the old one is then remade), or put the old file back"]
