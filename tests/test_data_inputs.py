"""The input pool: targets and different-class seeds; N larger than the pool fails clearly."""
import numpy as np
import pytest
from PIL import Image

from robuniv.data import labels_of, open_split
from robuniv.inputs import sample_pairs


def reference_pairs(labels, n_inputs, seed=0):
    """The straightforward implementation (one scan of the pool per target): the pairs must not change."""
    rng = np.random.default_rng(seed)
    targets = np.sort(rng.choice(len(labels), size=n_inputs, replace=False))
    seeds = np.empty(n_inputs, dtype=np.int64)
    for i, t in enumerate(targets):
        others = np.flatnonzero(labels != labels[t])
        seeds[i] = others[rng.integers(len(others))]
    return targets, seeds


@pytest.mark.parametrize("n_classes, pool, n", [(2, 50, 50), (10, 360, 200), (7, 1000, 999), (100, 5000, 3000)])
def test_pairs_equal_the_reference_and_differ_in_class(n_classes, pool, n):
    labels = np.random.default_rng(n_classes).integers(0, n_classes, size=pool)
    targets, seeds = sample_pairs(labels, n, seed=3)
    ref_targets, ref_seeds = reference_pairs(labels, n, seed=3)
    np.testing.assert_array_equal(targets, ref_targets)
    np.testing.assert_array_equal(seeds, ref_seeds)
    assert (labels[targets] != labels[seeds]).all() and len(set(targets)) == n


def test_digits_pairs_are_unchanged():
    labels = labels_of(open_split({"source": "sklearn_digits"}, "eval"))
    for n in (64, len(labels)):
        got, ref = sample_pairs(labels, n), reference_pairs(labels, n)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_bad_requests_name_n_inputs_and_the_pool():
    labels = np.arange(10) % 3
    with pytest.raises(ValueError, match=r"n_inputs = 11 exceeds the 10 images of the input pool"):
        sample_pairs(labels, 11)
    with pytest.raises(ValueError, match="n_inputs must be at least 1"):
        sample_pairs(labels, 0)
    with pytest.raises(ValueError, match="n_inputs must be an integer"):
        sample_pairs(labels, 2.5)
    with pytest.raises(ValueError, match="single class"):
        sample_pairs(np.zeros(5, dtype=int), 2)
    with pytest.raises(ValueError, match="non-empty"):
        sample_pairs(np.array([], dtype=int), 1)


def test_small_val_split_needs_the_train_pool(tmp_path):
    """As ImageNet100 in the paper: its val split is smaller than N, its train split is not."""
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 6), ("val", 2)):
        for c in ("n000", "n001", "n002"):
            folder = tmp_path / split / c
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.JPEG")
    source = {"source": "imagefolder", "path": str(tmp_path), "image_size": 8, "resize_size": 8}
    n_inputs = 10
    train = labels_of(open_split(source, "train"))
    targets, seeds = sample_pairs(train, n_inputs, pool="the train split")
    assert len(train) == 18 and len(targets) == n_inputs and (train[targets] != train[seeds]).all()
    val = labels_of(open_split(source, "eval"))
    with pytest.raises(ValueError, match=r"n_inputs = 10 exceeds the 6 images of the eval split"):
        sample_pairs(val, n_inputs, pool="the eval split")
