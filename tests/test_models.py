import math

import pytest
import torch
import torchvision.models as tvm

from robuniv.architectures import (ARCHITECTURES, VARIANTS, Architecture, Variant, register_architecture,
                                   representation_layer)
from robuniv.models import Classifier, create_model

TORCHVISION = {
    "resnet18": lambda: tvm.resnet18(),
    "resnet50": lambda: tvm.resnet50(),
    "wide_resnet50_2": lambda: tvm.wide_resnet50_2(),
    "wide_resnet50_4": lambda: tvm.resnet50(width_per_group=256),  # a ResNet-50 with width_per_group 256
    "resnext50_32x4d": lambda: tvm.resnext50_32x4d(),
    "densenet121": lambda: tvm.densenet121(),
    "densenet161": lambda: tvm.densenet161(),
    "vgg16": lambda: tvm.vgg16(),
    "vgg16_bn": lambda: tvm.vgg16_bn(),
}


def robustness_cifar_models():
    import robustness.cifar_models as cm

    return {"resnet18": cm.resnet18, "resnet50": cm.resnet50, "densenet121": cm.densenet121,
            "densenet161": cm.densenet161, "vgg16": cm.vgg16, "vgg16_bn": cm.vgg16}


def shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_catalogue_has_every_architecture_once_with_both_variants_whose_builders_resolve():
    from robuniv.catalog import resolve

    assert set(ARCHITECTURES) == set(TORCHVISION)
    for name, entry in ARCHITECTURES.items():
        assert isinstance(entry, Architecture) and entry.name == name and entry.relative_cost > 0
        for variant in VARIANTS:
            assert isinstance(entry.variant(variant), Variant)
            assert callable(resolve(entry.variant(variant).builder))
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(ARCHITECTURES["resnet18"])


def test_representation_layer_descriptions():
    assert representation_layer("resnet50") == "avgpool (post-ReLU layer4, pooled)"
    assert representation_layer("vgg16_bn", "imagenet") == "classifier.4 (post-ReLU fc7)"
    assert "conv5_3" in representation_layer("vgg16", "cifar")
    both = representation_layer("vgg16")
    assert both.startswith("imagenet: classifier.4") and "; cifar: features" in both
    with pytest.raises(ValueError, match="unknown architecture 'nope'.*resnet18"):
        representation_layer("nope")
    with pytest.raises(ValueError, match="unknown model variant"):
        representation_layer("resnet18", "mnist")


@pytest.mark.parametrize("arch", sorted(TORCHVISION))
def test_imagenet_variant_state_dict_matches_torchvision(arch):
    with torch.device("meta"):  # shapes only: no memory, no init time
        ours = create_model(arch, 1000).net.state_dict()
        theirs = TORCHVISION[arch]().state_dict()
    assert shapes(ours) == shapes(theirs)
    assert list(ours) == list(theirs)  # same order too


@pytest.mark.parametrize("arch", ["resnet18", "resnext50_32x4d", "densenet121", "vgg16_bn"])
def test_imagenet_variant_computes_torchvision_forward(arch):
    torch.manual_seed(0)
    tv = TORCHVISION[arch]().eval()
    ours = create_model(arch, 1000).eval()
    ours.net.load_state_dict(tv.state_dict(), strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = tv((x - ours.mean) / ours.std)
        assert torch.allclose(ours(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", sorted(robustness_cifar_models()))
def test_cifar_variant_state_dict_matches_robustness_cifar_models(arch):
    with torch.device("meta"):
        ours = create_model(arch, 10, variant="cifar").net.state_dict()
        theirs = robustness_cifar_models()[arch](num_classes=10).state_dict()
    assert shapes(ours) == shapes(theirs)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "densenet121", "vgg16"])
def test_cifar_variant_computes_the_robustness_forward(arch):
    torch.manual_seed(0)
    theirs = robustness_cifar_models()[arch](num_classes=10)
    # Non-trivial BatchNorm statistics, so that a mis-wired block cannot hide behind identity norms.
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    theirs.eval()
    ours = create_model(arch, 10, variant="cifar").eval()
    ours.net.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected, latent = theirs((x - ours.mean) / ours.std, with_latent=True)
        assert torch.allclose(ours(x), expected, atol=1e-4, rtol=1e-4)
        assert torch.allclose(ours.forward_features(x), latent.flatten(1), atol=1e-4, rtol=1e-4)


# Paper (Tables 1 and 3, with the ResNeXt/DenseNet swap undone): parameters of the CIFAR-10 models.
CIFAR10_PARAMS_M = {"resnet18": 11.2, "resnet50": 23.5, "wide_resnet50_2": 66.9, "wide_resnet50_4": 221.4,
                    "resnext50_32x4d": 23.0, "densenet161": 26.5, "vgg16": 14.7}
IMAGENET_PARAMS_M = {"resnext50_32x4d": 25.0, "densenet161": 28.7, "resnet18": 11.7, "resnet50": 25.6,
                     "wide_resnet50_2": 68.9, "wide_resnet50_4": 223.4, "vgg16_bn": 138.4}


@pytest.mark.parametrize("arch", sorted(CIFAR10_PARAMS_M))
def test_cifar10_parameter_counts_are_the_papers(arch):
    with torch.device("meta"):
        count = n_params(create_model(arch, 10, variant="cifar"))
    assert abs(count / 1e6 - CIFAR10_PARAMS_M[arch]) <= 0.1, count


@pytest.mark.parametrize("arch", sorted(TORCHVISION))
def test_imagenet_parameter_counts_are_torchvisions(arch):
    with torch.device("meta"):
        count = n_params(create_model(arch, 1000))
        assert count == n_params(TORCHVISION[arch]())
    if arch in IMAGENET_PARAMS_M:
        assert abs(count / 1e6 - IMAGENET_PARAMS_M[arch]) <= 0.1, count


def test_cifar_wide_resnets_and_resnext_are_the_imagenet_architecture():
    for arch in ("wide_resnet50_2", "wide_resnet50_4", "resnext50_32x4d"):
        with torch.device("meta"):
            net = create_model(arch, 10, variant="cifar").net
            imagenet = TORCHVISION[arch]()
        assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
        assert isinstance(net.maxpool, torch.nn.MaxPool2d)
        assert net.fc.out_features == 10
        del imagenet.fc
        assert shapes({k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}) == \
            shapes(imagenet.state_dict())


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("variant,size", [("cifar", 8), ("cifar", 32), ("imagenet", 64)])
def test_forward_head_of_forward_features_is_forward(arch, variant, size):
    torch.manual_seed(0)
    model = create_model(arch, 7, variant=variant, width=0.0625, image_size=size).eval()
    assert isinstance(model, Classifier)
    x = torch.rand(3, 3, size, size)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (3, model.num_features)
        assert torch.equal(model.forward_head(feats), model(x))
        assert model(x).shape == (3, 7)
        assert (feats >= 0).all(), "the representation is post-ReLU"
        assert torch.equal(model.net.forward_features(model.normalize(x)), feats)
    assert not hasattr(model, "features") and not hasattr(model, "head")


def test_vgg_representation_is_fc7_for_imagenet_and_pooled_conv_for_cifar():
    with torch.device("meta"):
        model = create_model("vgg16_bn", 10).eval()
        assert model.forward_features(torch.rand(1, 3, 224, 224, device="meta")).shape == (1, 4096)
        assert model.net.classifier[6].in_features == 4096
        cifar = create_model("vgg16", 10, variant="cifar").eval()
        assert cifar.forward_features(torch.rand(1, 3, 32, 32, device="meta")).shape == (1, 512)
        assert isinstance(cifar.net.classifier, torch.nn.Linear)
        assert any(isinstance(m, torch.nn.BatchNorm2d) for m in cifar.net.features)


def test_cifar_vgg_keeps_its_keys_on_small_images():
    # Max-pools that do not fit an 8 px image become Identity; the module indices stay the library's.
    small = create_model("vgg16_bn", 10, variant="cifar", width=0.25, image_size=8).net
    full = create_model("vgg16_bn", 10, variant="cifar", width=0.25, image_size=32).net
    assert shapes(small.state_dict()) == shapes(full.state_dict())
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in small.features) == 3


def test_representation_widths_at_full_width():
    expected = {"resnet18": 512, "resnet50": 2048, "wide_resnet50_2": 2048, "densenet161": 2208, "vgg16": 512}
    for arch, dim in expected.items():
        with torch.device("meta"):
            model = create_model(arch, 10, variant="cifar").eval()
            assert model.forward_features(torch.rand(1, 3, 32, 32, device="meta")).shape == (1, dim)
        assert model.num_features == dim


def test_inputs_are_clamped_like_the_robustness_library():
    model = create_model("resnet18", 10, variant="cifar", width=0.125).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x * 3 - 1), model(torch.clamp(x * 3 - 1, 0, 1)))


def test_unknown_architecture_lists_known_ones():
    with pytest.raises(ValueError, match="unknown architecture 'resnet999'.*resnet18.*vgg16_bn"):
        create_model("resnet999", 10)


@pytest.mark.parametrize("kwargs,name", [
    (dict(variant="mnist"), "variant"),
    (dict(width=0), "width"), (dict(width=-0.5), "width"), (dict(width=math.inf), "width"),
    (dict(width=math.nan), "width"),
    (dict(num_classes=0), "num_classes"), (dict(num_classes=-3), "num_classes"), (dict(num_classes=2.0), "num_classes"),
    (dict(image_size=0), "image_size"),
    (dict(std=(0.2, 0.0, 0.2)), "std"), (dict(std=(0.2, -0.1, 0.2)), "std"), (dict(std=(0.2, math.inf, 0.2)), "std"),
    (dict(std=(0.2, math.nan, 0.2)), "std"), (dict(std=(0.2, 0.2)), "std"),
    (dict(mean=(0.5, math.nan, 0.5)), "mean"), (dict(mean=(0.5, -math.inf, 0.5)), "mean"), (dict(mean="abc"), "mean"),
])
def test_bad_model_arguments_name_the_argument(kwargs, name):
    args = dict(arch="resnet18", num_classes=10, variant="cifar", width=0.125) | kwargs
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        create_model(**args)


def test_one_class_and_numpy_numbers_are_accepted():
    import numpy as np

    model = create_model("resnet18", np.int64(1), variant="cifar", width=np.float32(0.125), image_size=8)
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 1)


def test_models_module_does_not_import_torchvision():
    import os
    import subprocess
    import sys

    code = "import sys, robuniv.models; assert 'torchvision' not in sys.modules, 'torchvision imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
