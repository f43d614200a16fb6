"""CIFAR-10 batches are read with a restricted unpickler: the real format loads, nothing else runs."""
import io
import os
import pickle
import struct

import numpy as np
import pytest

from robuniv.data import DataError, labels_of, load_split


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING): how the real CIFAR batches were pickled."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def real_format_batch(n, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    entry = {b"batch_label": b"training batch 1 of 5", b"data": data, b"labels": labels,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    return entry, data, labels


def write_batches(base, batches, dump):
    base.mkdir(parents=True, exist_ok=True)
    for name, entry in batches.items():
        with open(base / name, "wb") as fh:
            dump(entry, fh)


NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_protocol2_bytes_key_batches_load(tmp_path):
    """Batches as Python 3 writes the real format: protocol 2, bytes keys (via _codecs.encode)."""
    made = {name: real_format_batch(3, seed=i) for i, name in enumerate(NAMES)}
    write_batches(tmp_path / "cifar-10-batches-py", {k: v[0] for k, v in made.items()},
                  lambda entry, fh: pickle.dump(entry, fh, protocol=2))
    test = load_split("cifar10", "eval", {"path": str(tmp_path)})
    _, data, labels = made["test_batch"]
    assert labels_of(test).tolist() == labels
    np.testing.assert_allclose(test[1][0].numpy(), data[1].reshape(3, 32, 32) / 255.0, atol=1e-7)
    assert len(load_split("cifar10", "train", {"path": str(tmp_path)})) == 15


def test_python2_pickles_with_numpy_core_load(tmp_path):
    """Python 2 byte strings (BINSTRING) and the ``numpy.core`` module name of the real files."""
    made = {name: real_format_batch(2, seed=i) for i, name in enumerate(NAMES)}

    def dump(entry, fh):
        buf = io.BytesIO()
        _Python2Pickler(buf, protocol=2).dump(entry)
        blob = buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        assert b"numpy.core.multiarray\n" in blob and b"_codecs" not in blob
        fh.write(blob)

    write_batches(tmp_path / "cifar-10-batches-py", {k: v[0] for k, v in made.items()}, dump)
    test = load_split("cifar10", "eval", {"path": str(tmp_path)})
    _, data, labels = made["test_batch"]
    assert labels_of(test).tolist() == labels
    np.testing.assert_allclose(test[0][0].numpy(), data[0].reshape(3, 32, 32) / 255.0, atol=1e-7)


@pytest.mark.parametrize("protocol", [4, 5])
def test_newer_protocols_with_str_keys_load(tmp_path, protocol):
    made = {name: real_format_batch(2, seed=i) for i, name in enumerate(NAMES)}
    write_batches(tmp_path / "cifar-10-batches-py",
                  {k: {key.decode(): value for key, value in v[0].items()} for k, v in made.items()},
                  lambda entry, fh: pickle.dump(entry, fh, protocol=protocol))
    assert labels_of(load_split("cifar10", "eval", {"path": str(tmp_path)})).tolist() == made["test_batch"][2]


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", [2, 4])
def test_crafted_batch_does_not_run_code(tmp_path, protocol):
    made = {name: real_format_batch(2, seed=i)[0] for i, name in enumerate(NAMES)}
    marker = tmp_path / "pwned"
    made["test_batch"][b"labels"] = _Exploit(marker)
    write_batches(tmp_path / "cifar-10-batches-py", made, lambda entry, fh: pickle.dump(entry, fh, protocol=protocol))
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    assert b"system" in batch.read_bytes()
    with pytest.raises(DataError, match="test_batch") as err:
        load_split("cifar10", "eval", {"path": str(tmp_path)})
    assert "system" in str(err.value)  # the refused global is named
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    batch = base / "test_batch"
    for payload in (b"cbuiltins\neval\n(S'1+1'\ntR.", b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x04\x00\x00\x00zlibtR.",
                    b"cnumpy\nload\n(S'x'\ntR."):
        batch.write_bytes(payload)
        with pytest.raises(DataError, match=str(batch)):
            load_split("cifar10", "eval", {"path": str(tmp_path)})


def test_random_bytes_give_a_data_error_naming_the_file(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for seed in [0, 1, 38, 50] + list(range(100, 300)):  # 38: OverflowError, 50: MemoryError in pickle.load
        (base / "test_batch").write_bytes(np.random.default_rng(seed).bytes(4096))
        with pytest.raises(DataError, match=str(base / "test_batch")):
            load_split("cifar10", "eval", {"path": str(tmp_path)})


def test_wrong_contents_name_the_file(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    cases = [[1, 2, 3], {"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]},
             {"data": np.zeros((2, 3072), np.uint8), "labels": [0]},
             {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]},
             {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]},
             {"data": np.zeros((2, 3072), np.uint8)}]
    for entry in cases:
        with open(base / "test_batch", "wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        with pytest.raises(DataError, match="test_batch"):
            load_split("cifar10", "eval", {"path": str(tmp_path)})
