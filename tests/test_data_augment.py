"""Training augmentation equals the robustness library's, tensor for tensor on the same seeds."""
import random

import numpy as np
import pytest
import torch
from PIL import Image

from robuniv import data
from robuniv.data import (IMAGENET_PCA_EIGVAL, IMAGENET_PCA_EIGVEC, Lighting, cifar_train_transform,
                          imagenet_train_transform, load_split)

aug = pytest.importorskip("robustness.data_augmentation")


def seeded(transform, image, seed):
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    return transform(image)


def test_lighting_constants_and_noise_match_the_library():
    assert torch.equal(torch.tensor(IMAGENET_PCA_EIGVAL), aug.IMAGENET_PCA["eigval"])
    assert torch.equal(torch.tensor(IMAGENET_PCA_EIGVEC), aug.IMAGENET_PCA["eigvec"])
    ours = Lighting(0.05)
    theirs = aug.Lighting(0.05, aug.IMAGENET_PCA["eigval"], aug.IMAGENET_PCA["eigvec"])
    img = torch.rand(3, 7, 5, generator=torch.Generator().manual_seed(0))
    for seed in range(5):
        a, b = seeded(ours, img, seed), seeded(theirs, img, seed)
        assert torch.equal(a, b) and not torch.equal(a, img)
    assert Lighting(0)(img) is img


def test_imagenet_train_transform_matches_the_library():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(300, 260, 3), dtype=np.uint8))
    ours, theirs = imagenet_train_transform(224), aug.TRAIN_TRANSFORMS_IMAGENET
    assert [type(t).__name__ for t in ours.transforms] == [type(t).__name__ for t in theirs.transforms]
    for seed in range(3):
        a, b = seeded(ours, image, seed), seeded(theirs, image, seed)
        assert a.shape == (3, 224, 224) and torch.equal(a, b)


def test_cifar_train_transform_matches_the_library():
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8))
    ours, theirs = cifar_train_transform(32), aug.TRAIN_TRANSFORMS_DEFAULT(32)
    assert repr(ours) == repr(theirs)
    for seed in range(5):
        a, b = seeded(ours, image, seed), seeded(theirs, image, seed)
        assert a.shape == (3, 32, 32) and torch.equal(a, b)


def test_cifar10_train_split_augments_like_the_library(tmp_path):
    from test_data import write_cifar_fixture

    arrays = write_cifar_fixture(tmp_path)
    train = load_split("cifar10", "train", {"path": str(tmp_path)}, augment=True)
    plain = load_split("cifar10", "train", {"path": str(tmp_path)})
    raw = arrays["data_batch_1"][0][4].reshape(3, 32, 32)
    # as torchvision's CIFAR10 hands the image to the library's transform: a PIL image from H x W x C bytes
    library = seeded(aug.TRAIN_TRANSFORMS_DEFAULT(32), Image.fromarray(raw.transpose(1, 2, 0)), 7)
    torch.manual_seed(7)
    random.seed(7)
    ours, label = train[4]
    assert torch.equal(ours, library) and label == arrays["data_batch_1"][1][4]
    assert torch.equal(plain[4][0], torch.from_numpy(raw).float() / 255)  # no augmentation: x / 255 as before


def test_imagefolder_train_split_augments_like_the_library(tmp_path):
    folder = tmp_path / "train" / "n000"
    folder.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (240, 250, 3), dtype=np.uint8)).save(folder / "a.JPEG")
    train = load_split("imagefolder", "train", {"path": str(tmp_path)}, augment=True)
    with Image.open(folder / "a.JPEG") as img:
        library = seeded(aug.TRAIN_TRANSFORMS_IMAGENET, img.convert("RGB"), 3)
    torch.manual_seed(3)
    random.seed(3)
    assert torch.equal(train[0][0], library)


def test_no_robustness_import_at_run_time():
    import inspect

    assert "robustness" not in inspect.getsource(data).replace("robustness library", "")
