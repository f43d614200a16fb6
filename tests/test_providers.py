"""Models by provider name (timm:, torchvision:), loaded from files their libraries wrote: the stored logits are
the library's own forward on the library's own preprocessing, the representation is the library's pre-logits,
and logits = representation · Wᵀ + b of the head."""
from pathlib import Path

import numpy as np
import pytest
import torch

from robuniv import config as rc
from robuniv import jobs
from robuniv import providers
from robuniv import settings as st
from robuniv.checkpoints import CheckpointError, load_robustness_checkpoint, save_robustness_checkpoint

timm = pytest.importorskip("timm")
SOURCE = {"source": "sklearn_digits"}
TOLERANCE = 1e-4  # the bound on |logit difference|; float32 forward passes


def _library_input(x, preprocessing):
    """The library's preprocessing, written independently with torchvision's tensor transforms."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    mode = InterpolationMode(preprocessing.interpolation)
    x = TF.resize(x, [preprocessing.resize_size], interpolation=mode, antialias=True)
    x = TF.center_crop(x, [preprocessing.input_size])
    return TF.normalize(x.clamp(0, 1), list(preprocessing.mean), list(preprocessing.std))


def _timm_file(tmp_path, name, **kwargs):
    """Weights written by timm itself (its Hugging Face export: model.safetensors)."""
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10, **kwargs).eval()
    save_for_hf(model, tmp_path / name, safe_serialization=True)
    return model, tmp_path / name / "model.safetensors"


def _torchvision_file(tmp_path, name):
    """Weights as torchvision distributes them: torch.save of the builder's state dict (.pth)."""
    from torchvision.models import get_model

    torch.manual_seed(0)
    model = get_model(name, weights=None, num_classes=10).eval()
    path = tmp_path / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return model, path


def _pre_logits_timm(model, x):
    return model.forward_head(model.forward_features(x), pre_logits=True)


def _pre_logits_torchvision(model, x, node):
    from torchvision.models.feature_extraction import create_feature_extractor

    return create_feature_extractor(model, return_nodes=[node])(x)[node]


CASES = [
    ("timm:resnet18", lambda tmp: _timm_file(tmp, "resnet18"), 32, _pre_logits_timm),
    ("timm:vit_tiny_patch16_224", lambda tmp: _timm_file(tmp, "vit_tiny_patch16_224", img_size=32), 32,
     _pre_logits_timm),
    ("torchvision:resnet18", lambda tmp: _torchvision_file(tmp, "resnet18"), 64,
     lambda m, x: _pre_logits_torchvision(m, x, "flatten")),
    ("torchvision:mobilenet_v3_small", lambda tmp: _torchvision_file(tmp, "mobilenet_v3_small"), 64,
     lambda m, x: _pre_logits_torchvision(m, x, "classifier.2")),
]


@pytest.mark.parametrize("arch,make,input_size,pre_logits", CASES, ids=[c[0] for c in CASES])
def test_library_written_weights_give_the_librarys_logits_and_pre_logits(tmp_path, arch, make, input_size,
                                                                         pre_logits):
    library_model, path = make(tmp_path)
    model = load_robustness_checkpoint(path, arch, 10, input_size=input_size)
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))  # the data set's images, in [0, 1]
    library_x = _library_input(x, model.preprocessing)
    with torch.no_grad():
        reps = model.forward_features(x)
        logits = model.forward_head(reps)
        expected_logits = library_model(library_x)
        expected_reps = pre_logits(library_model, library_x)
    assert (logits - expected_logits).abs().max() <= TOLERANCE
    assert (reps - expected_reps).abs().max() <= TOLERANCE
    head = model.net.head
    assert torch.allclose(logits, reps @ head.weight.T + head.bias, atol=1e-5)
    # the extraction job stores exactly these (and names the layer)
    assert model.net.layer.startswith("input of the final linear classifier")


def test_inputs_gradient_flows_through_the_preprocessing():
    model = load_model_untrained("timm:resnet18", 32)
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def load_model_untrained(arch, input_size):
    from robuniv.models import create_model

    return create_model(arch, 10, input_size=input_size).eval()


def test_a_trained_provider_model_round_trips_in_the_robustness_format(tmp_path):
    model = load_model_untrained("torchvision:resnet18", 32)
    path = tmp_path / "trained.ckpt"
    save_robustness_checkpoint(path, model, epoch=1)
    loaded = load_robustness_checkpoint(path, "torchvision:resnet18", 10, input_size=32)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_a_file_of_another_model_is_refused_naming_it(tmp_path):
    _, path = _torchvision_file(tmp_path, "mobilenet_v3_small")
    with pytest.raises(CheckpointError, match=rf"{path.name}: not a state dict of this model .*missing key"):
        load_robustness_checkpoint(path, "torchvision:resnet18", 10, input_size=32)


def test_a_library_file_with_inf_weights_is_refused_naming_it_and_the_key(tmp_path):
    _, path = _torchvision_file(tmp_path, "resnet18")
    state = torch.load(path, weights_only=True)
    state["fc.weight"][0, 0] = float("inf")
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=rf"^checkpoint .*{path.name}: 'fc\.weight' holds 1 NaN or inf value"):
        load_robustness_checkpoint(path, "torchvision:resnet18", 10)


def test_names_are_checked_against_their_library_with_the_closest_names():
    providers.check("timm:resnet18")
    providers.check("torchvision:vit_b_16")
    with pytest.raises(providers.ProviderError, match=r"timm has no model 'resnet19'; closest: timm:resnet1"):
        providers.check("timm:resnet19")
    with pytest.raises(providers.ProviderError, match=r"unknown model provider 'hub'"):
        providers.split("hub:resnet18")


def _demo_with(model: dict) -> dict:
    import yaml

    from pathlib import Path

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    cfg["datasets"]["digits"]["models"]["mine"] = model
    return cfg


def test_config_accepts_provider_models_and_names_the_key_of_a_bad_one():
    rc.validate(_demo_with({"arch": "timm:resnet18", "input_size": 32}), "my.yaml")
    rc.check_config(_demo_with({"arch": "timm:resnet18", "input_size": 32}))
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.models\.mine\.arch: timm has no model 'resnt18'"):
        rc.check_config(_demo_with({"arch": "timm:resnt18"}))
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.models\.mine\.width: a provider model"):
        rc.check_config(_demo_with({"arch": "torchvision:resnet18", "width": 0.5}))
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.models\.mine\.input_size: only provider models"):
        rc.check_config(_demo_with({"arch": "resnet18", "input_size": 32}))


def test_input_size_stays_out_of_the_params_of_built_in_models():
    assert "input_size" not in st.as_params(st.ModelSettings(arch="resnet18"))
    assert st.as_params(st.ModelSettings(arch="timm:resnet18", input_size=32))["input_size"] == 32


def test_extraction_stores_the_representation_and_logits_of_a_timm_model(tmp_path):
    import h5py

    _, path = _timm_file(tmp_path, "resnet18")
    model = st.ModelSettings(arch="timm:resnet18", input_size=32)
    data = st.DatasetSettings(n_inputs=20, batch_size=8)
    inputs = tmp_path / "inputs.h5"
    jobs.prepare_inputs(SOURCE, data, "digits", inputs)
    out = tmp_path / "act.h5"
    jobs.extract_activations(path, inputs, SOURCE, model, data, dataset="digits", model_name="mine", eps=0,
                             input_set="regular", out=out, device="cpu")
    net = load_robustness_checkpoint(path, "timm:resnet18", 10, input_size=32)
    with h5py.File(out) as fh, h5py.File(inputs) as given:
        reps, logits = fh["representations"][()], fh["logits"][()]
        layer = fh.attrs["layer"]
        images = torch.from_numpy(given["images"][()]) if "images" in given else None
    assert reps.shape == (20, 512) and logits.shape == (20, 10) and "timm:resnet18" in layer
    head = net.net.head
    assert np.allclose(logits, reps @ head.weight.detach().numpy().T + head.bias.detach().numpy(), atol=1e-4)


def test_a_safetensors_file_is_recognised_by_its_content_under_any_name(tmp_path):
    import shutil

    _, path = _timm_file(tmp_path, "resnet18")
    copy = shutil.copyfile(path, tmp_path / "resnet18.ckpt")  # what the workflow's copy of a local file is called
    assert providers.is_safetensors(copy) and not providers.is_safetensors(Path(__file__))
    model = load_robustness_checkpoint(copy, "timm:resnet18", 10, input_size=32)
    assert model.net.num_features == 512
