"""uint8 transfer is lossless, epoch batches keep the old order, inputs.h5 images equal the pool's."""
import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader

from robuniv import loading
from robuniv.data import ImageFiles, _UInt8Images, imagenet_eval_transform


def uint8_pool(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return _UInt8Images(rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8), rng.integers(0, 4, n))


def test_uint8_views_are_bit_identical_after_conversion_on_the_device(tmp_path):
    from PIL import Image

    pool = uint8_pool()
    view, exact = loading.as_uint8(pool)
    assert exact and view[3][0].dtype == torch.uint8
    assert torch.equal(loading.to_device(view[3][0], "cpu"), pool[3][0])
    (tmp_path / "c").mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "c" / f"{i}.png")
    files = ImageFiles(tmp_path, [(str(tmp_path / "c" / f"{i}.png"), 0) for i in range(3)], ["c"],
                       imagenet_eval_transform(16, 20))
    view, exact = loading.as_uint8(files)
    assert exact and view[1][0].dtype == torch.uint8 and files.transform is not view.transform
    assert torch.equal(loading.to_device(view[1][0], "cpu"), files[1][0])
    floats = torch.utils.data.TensorDataset(torch.rand(4, 3, 2, 2), torch.zeros(4))
    assert loading.as_uint8(floats) == (floats, False)


def test_global_batches_equal_the_shuffled_loader_and_split_across_ranks():
    data = torch.utils.data.TensorDataset(torch.arange(70), torch.arange(70))
    old = [b[0].tolist() for b in DataLoader(data, batch_size=16, shuffle=True,
                                             generator=torch.Generator().manual_seed(5))]
    g = torch.Generator().manual_seed(5)
    new = [b[0].tolist() for b in loading.make_loader(data, batch_sampler=loading.GlobalBatchSampler(70, 16, g),
                                                      generator=g)]
    assert new == old
    ranks = []
    for rank in range(2):
        g = torch.Generator().manual_seed(5)
        ranks.append([b[0].tolist() for b in loading.make_loader(
            data, batch_sampler=loading.GlobalBatchSampler(70, 16, g, rank, 2), generator=g)])
    for k, batch in enumerate(old):
        assert sorted(ranks[0][k] + ranks[1][k]) == sorted(batch) and len(ranks[0][k]) == len(batch) // 2 + len(batch) % 2
    assert len(loading.GlobalBatchSampler(65, 16, g, 0, 2)) == 4  # a tail of 1 < 2 ranks is skipped


def test_input_images_decoded_once_equal_the_pool(tmp_path):
    pool = uint8_pool()
    pairs = {"target_index": np.array([1, 5, 7, 30]), "seed_index": np.array([2, 0, 9, 39]),
             "target_label": pool.labels[[1, 5, 7, 30]]}
    path = tmp_path / "inputs.h5"
    with h5py.File(path, "w") as fh:
        assert loading.write_input_images(fh, pool, pairs, batch_size=3)
    assert loading.has_input_images(path)
    stored = list(loading.pair_batches(path, pairs, lambda: 1 / 0, 3))  # the pool is never opened
    fallback_path = tmp_path / "old.h5"
    h5py.File(fallback_path, "w").close()
    fallback = list(loading.pair_batches(fallback_path, pairs, lambda: pool, 3, num_workers=1))
    for (sl, s, t), (sl2, s2, t2) in zip(stored, fallback, strict=True):
        assert sl == sl2 and torch.equal(s, s2) and torch.equal(t, t2)
        assert torch.equal(t, torch.stack([pool[int(i)][0] for i in pairs["target_index"][sl]]))
    a = list(loading.target_batches(path, pairs, lambda: 1 / 0, 3))
    b = list(loading.target_batches(fallback_path, pairs, lambda: pool, 3))
    for (p, x, y, i), (p2, x2, y2, i2) in zip(a, b, strict=True):
        assert np.array_equal(p, p2) and torch.equal(x, x2) and np.array_equal(y, y2) and np.array_equal(i, i2)
    with h5py.File(tmp_path / "digits.h5", "w") as fh:  # float images: nothing stored, the old path serves
        floats = torch.utils.data.TensorDataset(torch.rand(40, 3, 2, 2), torch.zeros(40))
        assert not loading.write_input_images(fh, floats, pairs)
