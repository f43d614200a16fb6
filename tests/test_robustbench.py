"""RobustBench models by name (robustbench:<dataset>/<threat>/<name>), loaded by RobustBench's own load_model from
files in the layouts it reads, written from RobustBench's own architecture classes: the stored logits are the
library model's forward on RobustBench's preprocessing, the representation is the input of its last linear layer,
and logits = representation · Wᵀ + b of that layer.

RobustBench is an optional extra (``pip install 'robuniv[robustbench]'``: it pins timm 1.0.9); CI installs it in a
virtual environment of its own and runs this file there. Without it these tests are skipped."""
from pathlib import Path

import pytest
import torch

from robuniv import config as rc
from robuniv import providers
from robuniv.checkpoints import CheckpointError, load_robustness_checkpoint, save_robustness_checkpoint
from robuniv.models import create_model

try:
    providers.import_robustbench()
except ImportError as err:  # the optional extra is not installed
    pytest.skip(f"RobustBench is not installed ({err})", allow_module_level=True)

from robustbench.model_zoo import model_dicts  # noqa: E402
from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4  # the bound on |logit difference|; float32 forward passes


def _architecture(dataset, threat, name):
    """RobustBench's own architecture class of a zoo entry, with seeded random weights."""
    torch.manual_seed(0)
    model = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)][name]["model"]().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that loading them is tested too
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def _released_file(tmp_path, dataset, threat, name, layout):
    """The file as RobustBench distributes it: CIFAR ``{'state_dict': {'module.' + key}}`` (Carmon2019's layout)
    or the bare state dict; ImageNet the bare network without RobustBench's normalising wrapper (load_model
    prefixes ``model.``)."""
    model = _architecture(dataset, threat, name)
    state = model.state_dict()
    if dataset == "imagenet":
        state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    if layout == "wrapped":
        state = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    path = tmp_path / f"{name}.pt"
    torch.save(state, path)
    return model, path


def _robustbench_input(x, dataset, preprocessing_name):
    """RobustBench's preprocessing (robustbench.data.PREPROCESSINGS), written with torchvision's tensor transforms."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    if dataset != "imagenet":
        return TF.resize(x, [32, 32], antialias=True) if x.shape[-1] != 32 else x
    if preprocessing_name == "Res256Crop224":
        return TF.center_crop(TF.resize(x, [256], antialias=True), [224])
    if preprocessing_name == "BicubicRes256Crop224":
        return TF.center_crop(TF.resize(x, [256], interpolation=InterpolationMode.BICUBIC, antialias=True), [224])
    raise AssertionError(preprocessing_name)


CASES = [  # (dataset, threat, name, layout, image size, what the representation is)
    ("cifar10", "L2", "Sehwag2021Proxy_R18", "wrapped", 32, "linear"),
    ("cifar10", "L2", "Rebuffi2021Fixing_R18_cutmix_ddpm", "bare", 32, "logits"),
    ("cifar10", "L2", "Sehwag2021Proxy_R18", "bare", 8, "linear"),  # digits' 8 px, resized to 32 like CIFAR
    ("imagenet", "Linf", "Salman2020Do_R18", "bare", 40, "model.fc"),
]


@pytest.mark.parametrize("dataset,threat,name,layout,size,head", CASES,
                         ids=[f"{c[2]}-{c[3]}-{c[4]}px" for c in CASES])
def test_robustbench_files_give_the_library_models_logits_and_pre_logits(tmp_path, dataset, threat, name, layout,
                                                                          size, head):
    library_model, path = _released_file(tmp_path, dataset, threat, name, layout)
    arch = f"robustbench:{dataset}/{threat}/{name}"
    classes = 1000 if dataset == "imagenet" else 10
    model = load_robustness_checkpoint(path, arch, classes, input_size=32 if size != 32 and dataset != "imagenet"
                                       else None)
    assert model.net.head_name == head
    x = torch.rand(2, 3, size, size + 8 * (dataset == "imagenet"), generator=torch.Generator().manual_seed(1))
    entry = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)][name]
    library_x = _robustbench_input(x, dataset, entry.get("preprocessing"))
    captured = {}
    library_head = dict(library_model.named_modules())[head]
    library_head.register_forward_pre_hook(lambda m, a: captured.setdefault("reps", a[0]))
    with torch.no_grad():
        reps = model.forward_features(x)
        logits = model.forward_head(reps)
        expected_logits = library_model(library_x)
    assert (logits - expected_logits).abs().max() <= TOLERANCE
    assert (reps - captured["reps"]).abs().max() <= TOLERANCE
    w, b = model.net.head.weight, model.net.head.bias
    assert torch.allclose(logits, reps @ w.T + b, atol=1e-5)
    assert model.net.layer.startswith("input of the final linear classifier") and "robustbench" in model.net.layer


def test_an_untrained_robustbench_architecture_trains_and_round_trips_in_the_robustness_format(tmp_path):
    arch = "robustbench:cifar10/L2/Sehwag2021Proxy_R18"
    model = create_model(arch, 10, input_size=32).eval()
    path = tmp_path / "trained.ckpt"
    save_robustness_checkpoint(path, model, epoch=1)
    loaded = load_robustness_checkpoint(path, arch, 10, input_size=32)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    x.requires_grad_(True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_names_are_checked_against_the_zoo_with_the_closest_names():
    providers.check("robustbench:cifar10/L2/Rebuffi2021Fixing_70_16_cutmix_extra")
    with pytest.raises(providers.ProviderError, match=r"no model 'Rebuffi2021Fixing_70_16_cutmix_extr' in "
                       r"cifar10/L2; closest: robustbench:cifar10/L2/Rebuffi2021Fixing_70_16_cutmix_extra"):
        providers.check("robustbench:cifar10/L2/Rebuffi2021Fixing_70_16_cutmix_extr")
    with pytest.raises(providers.ProviderError, match=r"no leaderboard cifar10/l2; known: .*cifar10/L2"):
        providers.check("robustbench:cifar10/l2/Standard")
    with pytest.raises(providers.ProviderError, match=r"robustbench:<dataset>/<threat>/<name>"):
        providers.split("robustbench:Standard")
    with pytest.raises(providers.ProviderError, match=r"an ensemble of 3 networks"):
        providers.check("robustbench:cifar10/Linf/Chen2020Adversarial")
    with pytest.raises(providers.ProviderError, match=r"a timm model .* use timm:"):
        providers.check("robustbench:imagenet/Linf/Debenedetti2022Light_XCiT-S12")
    with pytest.raises(providers.ProviderError, match=r"torchvision's pretrained network .* use torchvision:"):
        providers.check("robustbench:imagenet/Linf/Standard_R50")


def test_a_file_of_another_model_or_another_class_count_is_refused_naming_it(tmp_path):
    _, path = _released_file(tmp_path, "cifar10", "L2", "Rebuffi2021Fixing_R18_cutmix_ddpm", "bare")
    with pytest.raises(CheckpointError, match=rf"{path.name}: RobustBench's load_model cannot read it as "
                       r"robustbench:cifar10/L2/Sehwag2021Proxy_R18"):
        load_robustness_checkpoint(path, "robustbench:cifar10/L2/Sehwag2021Proxy_R18", 10)
    with pytest.raises(CheckpointError, match=r"classifies 10 classes .* the data set has 7"):
        load_robustness_checkpoint(path, "robustbench:cifar10/L2/Rebuffi2021Fixing_R18_cutmix_ddpm", 7)


def test_a_robustbench_file_with_nan_weights_is_refused_naming_it_and_the_key(tmp_path):
    _, path = _released_file(tmp_path, "cifar10", "L2", "Rebuffi2021Fixing_R18_cutmix_ddpm", "bare")
    state = torch.load(path, weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key].view(-1)[0] = float("nan")
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=rf"^checkpoint .*{path.name}: '.*' holds 1 NaN or inf value"):
        load_robustness_checkpoint(path, "robustbench:cifar10/L2/Rebuffi2021Fixing_R18_cutmix_ddpm", 10)


def _demo_with(model: dict) -> dict:
    import yaml

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["datasets"]["digits"]["models"]["mine"] = model
    return cfg


def test_config_accepts_robustbench_models_and_names_the_key_of_a_bad_one():
    good = {"arch": "robustbench:cifar10/L2/Sehwag2021Proxy_R18", "input_size": 32}
    rc.validate(_demo_with(good), "my.yaml")
    rc.check_config(_demo_with(good))
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.models\.mine\.arch: robustbench has no model "
                       r"'Sehwag2021Proxy_R19'"):
        rc.check_config(_demo_with({"arch": "robustbench:cifar10/L2/Sehwag2021Proxy_R19"}))


def test_the_robustbench_cifar10_l2_study_plans_offline(tmp_path):
    """configs/robustbench_cifar10_l2.yaml dry-runs with no network: every name is in RobustBench's zoo."""
    from test_workflow import paper_plan

    jobs, datasets, out = paper_plan("robustbench_cifar10_l2", tmp_path)
    assert datasets == {"cifar10_l2"}
    # ε = 0: RobustBench's standard model and 3 leaderboard architectures trained here; ε = 0.5: 9 released models
    assert jobs["download_checkpoint"] == 1 + 9 and jobs["train_model"] == 3
    pairs = 4 * 3 // 2 + 9 * 8 // 2
    assert jobs["evaluate_model"] == 13 and jobs["compare_models"] == 3 * pairs
    assert jobs["extract_activations"] == 4 * (1 + 4) + 9 * (1 + 9)
    assert "resources/robustbench/cifar10/L2/Standard.pt does not exist" in paper_plan.stderr


def test_the_imagenet_linf_architectures_study_plans_offline(tmp_path):
    """configs/imagenet_linf_architectures.yaml: timm and torchvision standard models and RobustBench's L∞ ones
    by name, planned with no network."""
    from test_workflow import paper_plan

    jobs, datasets, out = paper_plan("imagenet_linf_architectures", tmp_path)
    assert datasets == {"imagenet_linf"}
    assert jobs["download_checkpoint"] == 4 + 4 and "train_model" not in jobs  # every weight a local file
    assert jobs["evaluate_model"] == 8 and jobs["compare_models"] == 2 * 3 * 6  # 4 models per ε: 6 pairs × 3
    assert jobs["compare_catalogue"] == 5 * 2 * 3 * 6  # 5 catalogue jobs per pair (neighbours at k = 10)
    assert "resources/linf/convnext_base_eps0/model.safetensors does not exist" in paper_plan.stderr
    assert "resources/robustbench/imagenet/Linf/Mo2022When_ViT-B.pt does not exist" in paper_plan.stderr


def _shipped_robustbench_archs() -> list[str]:
    import yaml

    archs = []
    for config in ("robustbench_cifar10_l2", "imagenet_linf_architectures"):
        cfg = yaml.safe_load((ROOT / "configs" / f"{config}.yaml").read_text())
        archs += [m["arch"] for d in cfg["datasets"].values() for m in d["models"].values()
                  if m["arch"].startswith("robustbench:")]
    return archs


@pytest.mark.parametrize("arch", _shipped_robustbench_archs())
def test_every_shipped_robustbench_model_has_its_representation_at_the_final_classifier(arch):
    """The module taken as the head (the last nn.Linear registered) is the one that makes the logits: its input,
    the representation, gives the library model's own output (untrained weights; the architectures the configs ask for)."""
    imagenet = arch.startswith("robustbench:imagenet/")
    net, preprocessing = providers.build(arch, 1000 if imagenet else 10)
    net.eval()
    x = torch.rand(1, 3, preprocessing.input_size, preprocessing.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reps = net.forward_features(x)
        assert torch.equal(net.forward_head(reps), net.library(x))
    assert reps.shape == (1, net.head.in_features)
