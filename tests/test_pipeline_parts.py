"""Inputs, inversion, HDF5 files and tables of the end-to-end pipeline."""
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch

from robuniv.extract import write_activations
from robuniv.h5io import H5Error, atomic_h5, read_activations
from robuniv.inputs import sample_pairs
from robuniv.inversion import from_uint8, invert, to_uint8
from robuniv.models import create_model
from robuniv.tables import similarity_rows, spearman_table


def test_pairs_have_targets_without_repeats_and_seeds_of_another_class():
    labels = np.repeat(np.arange(5), 20)
    targets, seeds = sample_pairs(labels, 60, seed=3)
    assert len(set(targets)) == 60 and (np.diff(targets) > 0).all()
    assert (labels[targets] != labels[seeds]).all()
    again = sample_pairs(labels, 60, seed=3)
    assert np.array_equal(again[0], targets) and np.array_equal(again[1], seeds)
    assert not np.array_equal(sample_pairs(labels, 60, seed=4)[1], seeds)
    # seeds cover the other classes roughly uniformly
    counts = np.bincount(labels[seeds], minlength=5)
    assert counts.min() > 0


@pytest.mark.parametrize("n,labels,message", [(0, [0, 1], "n_inputs"), (3, [0, 1], "n_inputs"),
                                             (2, [1, 1], "single class")])
def test_bad_pair_requests(n, labels, message):
    with pytest.raises(ValueError, match=message):
        sample_pairs(np.array(labels), n)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return create_model("resnet18", 10, variant="cifar", width=0.25, image_size=8).eval()


def reference_inversion(model, seeds, targets, iterations, step_size, momentum):
    """STUDY.md's procedure written out per image, independently of robuniv.inversion."""
    out, losses = [], []
    for s, t in zip(seeds, targets):
        with torch.no_grad():
            ft = model.forward_features(t[None])[0]
        x, m = s.clone(), torch.zeros_like(s)
        best, best_loss = x.clone(), float("inf")
        for _ in range(iterations + 1):
            x = x.detach().requires_grad_(True)
            loss = torch.norm(model.forward_features(x[None])[0] - ft) / torch.norm(ft)
            if loss.item() < best_loss:
                best, best_loss = x.detach().clone(), loss.item()
            if _ == iterations:
                break
            g, = torch.autograd.grad(loss, [x])
            with torch.no_grad():
                m = momentum * m + (1 - momentum) * g / (torch.norm(g) + 1e-12)
                x = torch.clamp(x - step_size * m, 0, 1)
        out.append(best)
        losses.append(best_loss)
    return torch.stack(out), torch.tensor(losses)


def test_inversion_matches_the_procedure_and_lowers_the_loss(small_model):
    torch.manual_seed(1)
    seeds, targets = torch.rand(6, 3, 8, 8), torch.rand(6, 3, 8, 8)
    images, losses = invert(small_model, seeds, targets, iterations=15, step_size=0.125, momentum=0.9)
    ref_images, ref_losses = reference_inversion(small_model, seeds, targets, 15, 0.125, 0.9)
    assert torch.allclose(losses, ref_losses.float(), atol=1e-5)
    assert torch.allclose(images, ref_images, atol=1e-5)
    _, start_losses = invert(small_model, seeds, targets, iterations=0)
    assert (losses <= start_losses + 1e-7).all() and losses.mean() < start_losses.mean()
    assert images.min() >= 0 and images.max() <= 1


def test_tied_channels_keep_a_grayscale_seed_grayscale(small_model):
    torch.manual_seed(2)
    seeds = torch.rand(4, 1, 8, 8).expand(4, 3, 8, 8).contiguous()
    targets = torch.rand(4, 1, 8, 8).expand(4, 3, 8, 8).contiguous()
    images, losses = invert(small_model, seeds, targets, iterations=15, step_size=0.125, tie_channels=True)
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert not torch.equal(images, seeds)  # it moved
    _, start_losses = invert(small_model, seeds, targets, iterations=0, tie_channels=True)
    assert losses.mean() < start_losses.mean()
    untied, _ = invert(small_model, seeds, targets, iterations=15, step_size=0.125)
    assert not torch.equal(untied[:, 0], untied[:, 1])  # without tying the channels drift apart


def test_untied_inversion_is_the_default_bit_for_bit(small_model):
    torch.manual_seed(3)
    seeds, targets = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    default = invert(small_model, seeds, targets, iterations=5, step_size=0.125)
    untied = invert(small_model, seeds, targets, iterations=5, step_size=0.125, tie_channels=False)
    assert torch.equal(default[0], untied[0]) and torch.equal(default[1], untied[1])


def test_inverting_a_target_from_itself_costs_nothing(small_model):
    x = torch.rand(3, 3, 8, 8)
    images, losses = invert(small_model, x, x, iterations=3)
    assert torch.all(losses == 0) and torch.equal(images, x)


def test_uint8_rounds_not_truncates():
    x = torch.tensor([0.0, 0.499 / 255, 0.5 / 255 + 1e-6, 254.6 / 255, 1.0])
    assert to_uint8(x).tolist() == [0, 0, 1, 255, 255]
    assert torch.allclose(from_uint8(to_uint8(x)), torch.round(x * 255) / 255)


def test_activation_files_explain_themselves_and_round_trip(tmp_path, small_model):
    images = torch.rand(10, 3, 8, 8)
    batches = [(np.arange(0, 4), images[:4], np.arange(4), np.arange(100, 104)),
               (np.arange(4, 10), images[4:], np.arange(4, 10), np.arange(104, 110))]
    path = tmp_path / "act.h5"
    write_activations(small_model, batches, path, n=10, attrs={"model": "m", "eps": 0.5})
    data = read_activations(path)
    with torch.no_grad():
        assert np.allclose(data["representations"], small_model.forward_features(images).numpy(), atol=1e-6)
        assert np.allclose(data["logits"], small_model(images).numpy(), atol=1e-6)
    assert data["index"].tolist() == list(range(100, 110))
    assert data["attrs"]["model"] == "m" and "robuniv_version" in data["attrs"]
    with h5py.File(path) as fh:
        assert "description" in fh["representations"].attrs


def test_bad_activation_files_name_the_file(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as fh:
        fh["representations"] = np.ones((5, 3), dtype=np.float32)
        fh["logits"] = np.ones((4, 2), dtype=np.float32)
        fh["labels"] = np.zeros(5, dtype=int)
        fh["index"] = np.arange(5)
    with pytest.raises(H5Error, match=r"bad\.h5.*'logits' has 4 rows, expected 5"):
        read_activations(path)
    with h5py.File(path, "w") as fh:
        reps = np.ones((5, 3), dtype=np.float32)
        reps[2, 1] = np.nan
        fh["representations"], fh["logits"] = reps, np.ones((5, 2), dtype=np.float32)
        fh["labels"], fh["index"] = np.zeros(5, dtype=int), np.arange(5)
    with pytest.raises(H5Error, match=r"bad\.h5.*NaN or inf in 1 row"):
        read_activations(path)
    path.write_bytes(b"not hdf5")
    with pytest.raises(H5Error, match=r"bad\.h5.*not a readable HDF5"):
        read_activations(path)


def test_interrupted_writer_leaves_no_file(tmp_path):
    path = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        with atomic_h5(path) as fh:
            fh["x"] = np.arange(3)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_spearman_table_matches_scipy():
    rng = np.random.default_rng(0)
    rows = []
    for eps in (0, 0.25, 0.5, 1):
        for pair in range(3):
            rows.append(similarity_rows({"cka": 0.5 + eps / 2 + rng.normal(0, 0.01), "agreement": 0.9 - eps / 4},
                                        dataset="d", eps=eps, inputs="regular", source="", model_a=f"a{pair}",
                                        model_b="b"))
    frame = pd.concat(rows)
    table = spearman_table(frame).set_index("measure")
    cka = frame[frame.measure == "cka"]
    expected = scipy.stats.spearmanr(cka.eps, cka.value)
    assert table.loc["cka", "spearman_rho"] == pytest.approx(expected.statistic)
    assert table.loc["cka", "p_asymptotic"] == pytest.approx(expected.pvalue)
    assert table.loc["cka", "p_value"] == table.loc["cka", "p_permutation"]  # the figures' p
    assert table.loc["cka", "n"] == 12
    assert table.loc["agreement", "spearman_rho"] == pytest.approx(-1.0)
