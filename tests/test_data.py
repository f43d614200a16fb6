import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from robuniv.data import (DataError, digits_split_indices, imagenet100_classes, labels_of, load_split, open_split,
                          source_info, source_info_of)
from robuniv.sources import SOURCES, Source, register_source


def test_digits_are_sklearn_digits_in_a_fixed_stratified_split():
    from sklearn.datasets import load_digits

    ref = load_digits()
    train, evaluation = load_split("sklearn_digits", "train"), load_split("sklearn_digits", "eval")
    assert len(train) + len(evaluation) == 1797
    x, y = train.tensors
    assert x.shape[1:] == (3, 8, 8) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    train_idx, eval_idx = digits_split_indices(ref.target)
    assert not set(train_idx) & set(eval_idx)
    np.testing.assert_allclose(x[:, 0].numpy(), ref.images[train_idx] / 16.0)
    np.testing.assert_array_equal(y.numpy(), ref.target[train_idx])
    counts = np.bincount(evaluation.tensors[1].numpy())
    assert counts.min() >= 35 and counts.max() <= 37  # 20 % of each class
    again = load_split("sklearn_digits", "eval")
    assert torch.equal(again.tensors[0], evaluation.tensors[0])


def write_cifar_fixture(root, n_per_batch=6, seed=0):
    """Tiny CIFAR-10 in the real on-disk python format (pickled dicts, uint8 rows of 3072)."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch).tolist()
        with open(base / name, "wb") as fh:
            pickle.dump({"batch_label": name, "data": data, "labels": labels, "filenames": []}, fh)
        arrays[name] = (data, labels)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, fh)
    return arrays


def test_cifar10_reads_the_on_disk_format(tmp_path):
    arrays = write_cifar_fixture(tmp_path)
    train = load_split("cifar10", "train", {"path": str(tmp_path)})
    test = load_split("cifar10", "eval", {"path": str(tmp_path)})
    assert len(train) == 30 and len(test) == 6
    x, y = test[2]
    data, labels = arrays["test_batch"]
    assert x.shape == (3, 32, 32)
    np.testing.assert_allclose(x.numpy(), data[2].reshape(3, 32, 32) / 255.0, atol=1e-7)
    assert y == labels[2]
    np.testing.assert_array_equal(labels_of(train), sum((arrays[f"data_batch_{i}"][1] for i in range(1, 6)), []))
    xa, _ = load_split("cifar10", "train", {"path": str(tmp_path)}, augment=True)[0]
    assert xa.shape == (3, 32, 32)


def test_cifar10_missing_files_name_the_path(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "cifar-10-batches-py")):
        load_split("cifar10", "eval", {"path": str(tmp_path)})


def test_cifar10_corrupt_batch_names_the_file(tmp_path):
    write_cifar_fixture(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch"):
        load_split("cifar10", "eval", {"path": str(tmp_path)})


def write_imagefolder_fixture(root, classes, per_class=2, size=(40, 30)):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in classes:
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{c}_{i}.JPEG")


def test_imagefolder_eval_transform_and_class_subset(tmp_path):
    write_imagefolder_fixture(tmp_path, ["n001", "n002", "n003"])
    settings = {"path": str(tmp_path), "classes": ["n003", "n001"], "image_size": 16, "resize_size": 20}
    val = load_split("imagefolder", "eval", settings)
    assert len(val) == 4
    x, y = val[0]
    assert x.shape == (3, 16, 16) and 0 <= x.min() and x.max() <= 1
    assert sorted(set(labels_of(val).tolist())) == [0, 1]
    assert val.classes == ["n001", "n003"]
    train = load_split("imagefolder", "train", settings, augment=True)
    assert train[0][0].shape == (3, 16, 16)
    assert source_info("imagefolder", settings).num_classes == 2


def test_imagefolder_missing_class_and_folder(tmp_path):
    write_imagefolder_fixture(tmp_path, ["n001", "n002"])
    with pytest.raises(DataError, match="n009"):
        load_split("imagefolder", "eval", {"path": str(tmp_path), "classes": ["n001", "n009"]})
    with pytest.raises(DataError, match="does not exist"):
        load_split("imagefolder", "eval", {"path": str(tmp_path / "nowhere")})


def test_imagenet100_class_list_is_shipped():
    classes = imagenet100_classes()
    assert len(classes) == 100 and len(set(classes)) == 100
    assert all(c.startswith("n") and len(c) == 9 for c in classes)
    assert source_info("imagefolder", {"classes": "imagenet100", "path": "x"}).num_classes == 100


def test_unknown_source_and_split():
    with pytest.raises(ValueError, match="unknown data source 'mnist'"):
        load_split("mnist", "train")
    with pytest.raises(ValueError, match="unknown split"):
        load_split("sklearn_digits", "test")
    with pytest.raises(DataError, match="needs a 'path'"):
        load_split("cifar10", "train", {})


def test_catalogue_entries_resolve_and_their_training_defaults_are_settings():
    from robuniv import settings as st

    for name, src in SOURCES.items():
        assert isinstance(src, Source) and src.name == name
        assert callable(src.info_function()) and callable(src.load_function())
        st.build(st.TrainSettings, src.training_defaults)  # every override is a TrainSettings field
    with pytest.raises(TypeError):  # read-only: a config merge cannot change the catalogue
        SOURCES["cifar10"].training_defaults["num_workers"] = 0
    with pytest.raises(ValueError, match="already registered"):
        register_source(SOURCES["cifar10"])
    with pytest.raises(ValueError, match="must be among its options"):
        Source("x", "", info="a:b", load="a:c", required=("path",))
    assert source_info("cifar10") == SOURCES["cifar10"].info_function()({})


def test_unknown_source_lists_the_known_ones():
    for call in (lambda: source_info("mnist"), lambda: open_split({"source": "mnist"}, "eval"),
                 lambda: source_info_of({"source": "mnist"})):
        with pytest.raises(ValueError, match="known: sklearn_digits, cifar10, imagefolder"):
            call()
    with pytest.raises(ValueError, match="'source' key"):
        open_split({"path": "x"}, "eval")


def test_open_split_takes_the_workflow_settings_unchanged(tmp_path):
    arrays = write_cifar_fixture(tmp_path)
    settings = {"source": "cifar10", "path": str(tmp_path)}
    before = dict(settings)
    test = open_split(settings, "eval")
    assert settings == before
    assert len(test) == 6 and labels_of(test).tolist() == arrays["test_batch"][1]
    assert source_info_of(settings) == source_info("cifar10", {"path": str(tmp_path)})
    assert settings == before
    digits = open_split({"source": "sklearn_digits"}, "eval")
    assert torch.equal(digits.tensors[0], load_split("sklearn_digits", "eval").tensors[0])


def test_digits_ignore_augmentation():
    plain, augmented = load_split("sklearn_digits", "train"), load_split("sklearn_digits", "train", augment=True)
    assert torch.equal(plain.tensors[0], augmented.tensors[0])
