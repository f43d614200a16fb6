"""A data source, an architecture and a measure each plug in as one catalogue entry (plus its functions):
the schema, the config checks, the loaders, the model builder, the comparison and the tables pick it up
without any other file changing. Each test registers a new entry for its duration only."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import TensorDataset

from robuniv import config as rc
from robuniv import measures as M
from robuniv import similarity as S
from robuniv import tables
from robuniv.architectures import ARCHITECTURES, Architecture, Variant, representation_layer
from robuniv.data import SourceInfo, load_split, source_info
from robuniv.models import create_model
from robuniv.sources import SOURCES, Source

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


# ---------------------------------------------------------------- a data source: arrays in one .npz file
def npz_info(settings):
    with np.load(settings["path"]) as arrays:
        num_classes, size = int(arrays["y_train"].max()) + 1, int(arrays["x_train"].shape[-1])
    return SourceInfo(num_classes, size, "cifar", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def npz_load(split, settings, augment):
    with np.load(settings["path"]) as arrays:
        return TensorDataset(torch.from_numpy(arrays[f"x_{split}"]), torch.from_numpy(arrays[f"y_{split}"]))


def test_a_data_source_is_one_entry(monkeypatch, demo, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "arrays.npz"
    np.savez(path, x_train=rng.random((12, 3, 16, 16), dtype=np.float32), y_train=np.arange(12) % 4,
             x_eval=rng.random((5, 3, 16, 16), dtype=np.float32), y_eval=np.arange(5) % 4)
    monkeypatch.setitem(SOURCES, "npz_arrays", Source(
        "npz_arrays", "images and labels in one .npz file", info="test_plug_in:npz_info",
        load="test_plug_in:npz_load", options=("path",), required=("path",)))

    assert "npz_arrays" in rc.load_schema()["$defs"]["dataset"]["properties"]["source"]["enum"]
    demo["datasets"]["digits"]["source"] = "npz_arrays"
    with pytest.raises(rc.ConfigError, match="datasets.digits: 'path' is a required property"):
        rc.validate(demo, "config.yaml")
    demo["datasets"]["digits"]["path"] = str(path)
    rc.validate(demo, "config.yaml")
    rc.check_config(demo)
    assert source_info("npz_arrays", {"path": str(path)}).num_classes == 4
    assert len(load_split("npz_arrays", "eval", {"path": str(path)})) == 5


# ---------------------------------------------------------------- an architecture of an existing family
def test_an_architecture_is_one_entry(monkeypatch, demo):
    options = dict(block="basic", layers=(1, 1, 1, 1))
    monkeypatch.setitem(ARCHITECTURES, "resnet10", Architecture(
        "resnet10", imagenet=Variant("robuniv.models:resnet", "avgpool (post-ReLU layer4, pooled)", "ResNet-10",
                                     options),
        cifar=Variant("robuniv.models:cifar_resnet", "avgpool (post-ReLU layer4, pooled)", "ResNet-10", options),
        relative_cost=0.3))

    assert "resnet10" in rc.load_schema()["$defs"]["model"]["properties"]["arch"]["anyOf"][0]["enum"]
    demo["datasets"]["digits"]["models"]["resnet18"]["arch"] = "resnet10"
    rc.validate(demo, "config.yaml")
    rc.check_config(demo)
    assert representation_layer("resnet10") == "avgpool (post-ReLU layer4, pooled)"
    model = create_model("resnet10", 10, variant="cifar", width=0.25).eval()
    blocks = [m for m in model.modules() if type(m).__name__ == "CifarBasicBlock"]
    assert len(blocks) == 4  # one block per stage, as the entry says
    with torch.no_grad():
        assert model(torch.rand(2, 3, 8, 8)).shape == (2, 10)


# ---------------------------------------------------------------- a measure with a computation of its own
def _mean_norm_ratio(steps, options):
    # the smaller over the larger mean row norm of the centred representations (1 = equal spread)
    a, b = (float(torch.linalg.vector_norm(x - x.mean(0), dim=1).mean()) for x in (steps.a, steps.b))
    return {"mean_norm_ratio": min(a, b) / max(a, b)}


def test_a_measure_is_one_entry(monkeypatch):
    monkeypatch.setitem(M.MEASURES, "mean_norm_ratio", M.Measure(
        "mean_norm_ratio", "mean norm ratio (↑ more similar)", M.REPRESENTATIONS, M.HIGHER,
        "smaller / larger mean row norm of the centred representations", False, family="mean_norm"))
    monkeypatch.setattr(S, "FAMILIES", dict(S.FAMILIES))  # restored after the test
    S.family("mean_norm")(_mean_norm_ratio)  # what a decorator in robuniv.similarity does

    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 5))
    values = S.compare_pair(a, a + 1.0, a, a + 1.0, ks=(5,), with_rtd=False)
    assert values["mean_norm_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert S.compute("mean_norm_ratio", a, 3.0 * a) == pytest.approx(1 / 3, abs=1e-12)
    assert M.families(["mean_norm_ratio", M.CKA]) == ["cka", "mean_norm"]

    rows = tables.similarity_rows(values, dataset="digits", eps=0.0, inputs="regular", source="", model_a="m",
                                  model_b="n")
    table = tables.similarity_table(rows)
    assert table.set_index("measure").loc["mean_norm_ratio", "direction"] == M.HIGHER


def test_every_registered_family_has_its_computation_and_writes_only_its_measures():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(60, 6)), rng.normal(size=(60, 6))
    options = {"ks": M.JACCARD_KS[:1], "rtd_trials": 1, "rtd_batch": 20, "rtd_jobs": 1}
    from robuniv.catalogue import CATALOGUE_FAMILIES, compute_family

    for family in {m.family for m in M.MEASURES.values()}:
        if family in CATALOGUE_FAMILIES:
            values = compute_family(family, a, b, options)
        else:
            values = S.FAMILIES[family](S.PairSteps(a, b), options)
        assert values and all(M.measure(name).family == family for name in values), family


@pytest.mark.parametrize("name", [n for n in M.MEASURES if n != M.RTD and (M.jaccard_k(n) or 0) <= 10
                                  and n not in M.catalogue_measures()] + ["jaccard@7"])
def test_compute_by_name_equals_the_pair_comparison(name):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 6))
    b = a @ rng.normal(size=(6, 6)) + 0.3 * rng.normal(size=(50, 6))
    logits_a, logits_b = a[:, :4], b[:, :4]
    every = S.compare_pair(logits_a, logits_b, a, b, ks=(7, 10), with_rtd=False)
    arrays = (logits_a, logits_b) if M.measure(name).kind == M.PREDICTIONS else (a, b)
    assert S.compute(name, *arrays) == every[name]  # the same operations: equal, not close


@pytest.mark.parametrize("name", M.catalogue_measures() + ["mutual_knn@7"])
def test_compute_by_name_equals_its_catalogue_family(name):
    from robuniv.catalogue import compute_family

    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 6))
    b = a @ rng.normal(size=(6, 6)) + 0.3 * rng.normal(size=(50, 6))
    k = M.split_k(name)[1]
    family = compute_family(M.measure(name).family, a, b, {"ks": (k or 10,)})
    assert S.compute(name, a, b) == family[name]  # the same operations: equal, not close


def test_catalogue_per_model_steps_are_made_once_per_model(monkeypatch):
    """Within a family job, what one model's measures share (its SVDs, its kNN graph) is computed once."""
    from robuniv import catalogue as C

    calls = {"basis": 0, "knn": 0}
    basis, knn = C._basis, C._knn

    def counted(name, function):
        def wrapper(*args):
            calls[name] += 1
            return function(*args)
        return wrapper

    monkeypatch.setattr(C, "_basis", counted("basis", basis))
    monkeypatch.setattr(C, "_knn", counted("knn", knn))
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(60, 8)), rng.normal(size=(60, 8))
    steps = (C.ModelSteps(a), C.ModelSteps(b))
    for family in ("cca", "alignment"):  # two families of one job sharing the models' steps
        C.compute_family(family, a, b, steps=steps)
    assert calls["basis"] == 2 * 2  # per model: the centred and the uncentred SVD, once each
    C.compute_family("neighbours", a, b, {"ks": (5, 10)}, steps=steps)
    assert calls["knn"] == 2  # one search per model at the largest k serves every k
