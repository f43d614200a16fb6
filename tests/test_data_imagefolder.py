"""imagefolder: one class index (class list, else the train folders) labels every split."""
import numpy as np
import pytest
from PIL import Image

from robuniv.data import DataError, imagefolder_class_index, labels_of, load_split, open_split, source_info


def write_tree(root, splits, per_class=2, size=(24, 20), seed=0):
    """``splits``: {"train": [classes], "val": [classes]}; class c's images have red channel 10 * (c + 1)."""
    rng = np.random.default_rng(seed)
    for split, classes in splits.items():
        for c in classes:
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
                pixels[..., 0] = 20 * (int(c[1:]) + 1)  # the class, readable back from a decoded image
                Image.fromarray(pixels).save(folder / f"{c}_{i}.JPEG", quality=100)
    return {"path": str(root), "image_size": 16, "resize_size": 16}


def true_class(dataset, i):
    x, _ = dataset[i]
    return int(round(float(x[0].mean()) * 255 / 20)) - 1


def test_val_missing_a_class_keeps_the_labels_of_train(tmp_path):
    settings = write_tree(tmp_path, {"train": ["n000", "n001", "n002", "n003"], "val": ["n000", "n002", "n003"]})
    train, val = load_split("imagefolder", "train", settings), load_split("imagefolder", "eval", settings)
    assert train.classes == val.classes == ["n000", "n001", "n002", "n003"]
    assert val.class_to_idx == {"n000": 0, "n001": 1, "n002": 2, "n003": 3}
    assert labels_of(val).tolist() == [0, 0, 2, 2, 3, 3]  # before: [0, 0, 1, 1, 2, 2]
    assert all(true_class(val, i) == label for i, label in enumerate(labels_of(val)))
    assert all(true_class(train, i) == label for i, label in enumerate(labels_of(train)))
    assert source_info("imagefolder", settings).num_classes == 4


def test_extra_class_in_val_names_folder_and_class(tmp_path):
    settings = write_tree(tmp_path, {"train": ["n000", "n001"], "val": ["n000", "n001", "n007"]})
    assert len(load_split("imagefolder", "train", settings)) == 4
    with pytest.raises(DataError, match=r"val.*n007"):
        load_split("imagefolder", "eval", settings)


def test_num_classes_comes_from_the_train_folders(tmp_path):
    settings = write_tree(tmp_path, {"train": ["n000", "n001", "n002"], "val": ["n000", "n001", "n002"]})
    info = source_info("imagefolder", settings)
    assert info.num_classes == 3 and info.image_size == 16 and info.variant == "imagenet"
    assert source_info("imagefolder", {**settings, "num_classes": 3}).num_classes == 3
    for call in (lambda s: source_info("imagefolder", s), lambda s: load_split("imagefolder", "eval", s)):
        with pytest.raises(DataError, match="num_classes: 1000 does not match the 3 classes"):
            call({**settings, "num_classes": 1000})
    # a new class folder is seen (the folder scan is cached only while the folder is unchanged)
    (tmp_path / "train" / "n003").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "train" / "n003" / "a.JPEG")
    assert source_info("imagefolder", settings).num_classes == 4


def test_class_list_fixes_the_index_and_needs_every_class_in_train(tmp_path):
    settings = write_tree(tmp_path, {"train": ["n000", "n001", "n002", "n003"], "val": ["n001", "n003", "n004"]})
    listed = {**settings, "classes": ["n003", "n001", "n002"]}
    assert imagefolder_class_index(listed) == ["n001", "n002", "n003"]
    assert source_info("imagefolder", listed).num_classes == 3
    val = load_split("imagefolder", "eval", listed)  # n002 missing from val: allowed; n004 not listed: ignored
    assert val.classes == ["n001", "n002", "n003"]
    assert labels_of(val).tolist() == [0, 0, 2, 2]
    assert all(true_class(val, i) == [1, 2, 3][label] for i, label in enumerate(labels_of(val)))
    with pytest.raises(DataError, match=r"train.*n004"):
        load_split("imagefolder", "eval", {**settings, "classes": ["n001", "n004"]})
    with pytest.raises(DataError, match="twice: n001"):
        load_split("imagefolder", "train", {**settings, "classes": ["n001", "n001"]})
    with pytest.raises(DataError, match="num_classes: 4 does not match the 3 classes of the class list"):
        source_info("imagefolder", {**listed, "num_classes": 4})


def test_class_list_file(tmp_path):
    settings = write_tree(tmp_path / "tree", {"train": ["n000", "n001", "n002"], "val": ["n000", "n002"]})
    listing = tmp_path / "classes.txt"
    listing.write_text("n002\n\nn000\n")
    val = open_split({"source": "imagefolder", **settings, "classes": str(listing)}, "eval")
    assert val.classes == ["n000", "n002"] and labels_of(val).tolist() == [0, 0, 1, 1]


def test_missing_tree_and_empty_class_folder(tmp_path):
    nowhere = {"path": str(tmp_path / "nowhere")}
    with pytest.raises(DataError, match="does not exist"):
        load_split("imagefolder", "train", nowhere)
    # a dry run plans without the data: ImageNet's 1000 classes (or num_classes) until the tree is there
    assert source_info("imagefolder", nowhere).num_classes == 1000
    assert source_info("imagefolder", {**nowhere, "num_classes": 10}).num_classes == 10
    settings = write_tree(tmp_path / "t", {"train": ["n000", "n001"], "val": ["n000", "n001"]})
    (tmp_path / "t" / "val" / "n001" / "n001_0.JPEG").unlink()
    (tmp_path / "t" / "val" / "n001" / "n001_1.JPEG").unlink()
    with pytest.raises(DataError, match=r"val.*n001"):
        load_split("imagefolder", "eval", settings)
    (tmp_path / "t" / "val").rename(tmp_path / "t" / "elsewhere")
    with pytest.raises(DataError, match=r"t/val does not exist"):
        load_split("imagefolder", "eval", settings)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty/train has no class folders"):
        load_split("imagefolder", "eval", {"path": str(tmp_path / "empty")})


def test_datasets_pickle_for_spawned_dataloader_workers(tmp_path):
    import pickle

    import torch

    settings = write_tree(tmp_path, {"train": ["n000", "n001"], "val": ["n000", "n001"]})
    train = pickle.loads(pickle.dumps(load_split("imagefolder", "train", settings, augment=True)))
    torch.manual_seed(0)
    x, y = train[3]
    assert x.shape == (3, 16, 16) and y == 1


def test_image_files_are_listed_as_torchvision_lists_them(tmp_path):
    """The walk that refuses link loops lists a plain tree exactly as torchvision's make_dataset (so the sample
    indices, and the comparison inputs drawn from them, stay those of earlier versions)."""
    from PIL import Image
    from torchvision.datasets.folder import make_dataset

    from robuniv.data import IMAGE_EXTENSIONS, image_files

    for rel in ("b/z.JPEG", "b/a.png", "b/sub/x.jpg", "b/sub/deeper/y.bmp", "a/q.jpg", "a/notes.txt", "c/s/t.jpeg"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".txt":
            path.write_text("not an image")
        else:
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, format="PNG")
    (tmp_path / "c" / "linked").symlink_to(tmp_path / "b" / "sub" / "deeper")  # a link to another class's folder
    classes = {"a": 0, "b": 1, "c": 2}
    assert image_files(tmp_path, classes) == make_dataset(str(tmp_path), classes, extensions=IMAGE_EXTENSIONS)
