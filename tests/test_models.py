import pytest
import torch
import torchvision.models as tvm

from robuniv.models import ARCHITECTURES, create_model

TORCHVISION = {
    "resnet18": lambda: tvm.resnet18(),
    "resnet50": lambda: tvm.resnet50(),
    "wide_resnet50_2": lambda: tvm.wide_resnet50_2(),
    "wide_resnet50_4": lambda: tvm.resnet50(width_per_group=256),  # STUDY.md: ResNet-50, width_per_group 256
    "resnext50_32x4d": lambda: tvm.resnext50_32x4d(),
    "densenet121": lambda: tvm.densenet121(),
    "densenet161": lambda: tvm.densenet161(),
    "vgg16": lambda: tvm.vgg16(),
    "vgg16_bn": lambda: tvm.vgg16_bn(),
}


def shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("arch", sorted(TORCHVISION))
def test_imagenet_variant_state_dict_matches_torchvision(arch):
    ours = create_model(arch, 1000).net.state_dict()
    assert shapes(ours) == shapes(TORCHVISION[arch]().state_dict())


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "vgg16_bn"])
def test_imagenet_variant_computes_torchvision_forward(arch):
    torch.manual_seed(0)
    tv = TORCHVISION[arch]().eval()
    ours = create_model(arch, 1000).eval()
    ours.net.load_state_dict(tv.state_dict(), strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = tv((x - ours.mean) / ours.std)
        assert torch.allclose(ours(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("variant,size", [("cifar", 8), ("cifar", 32), ("imagenet", 64)])
def test_head_of_features_is_forward(arch, variant, size):
    torch.manual_seed(0)
    model = create_model(arch, 7, variant=variant, width=0.0625, image_size=size).eval()
    x = torch.rand(3, 3, size, size)
    with torch.no_grad():
        feats = model.features(x)
        assert feats.dim() == 2 and feats.shape[0] == 3
        assert torch.equal(model.head(feats), model(x))
        assert model(x).shape == (3, 7)
        assert (feats >= 0).all(), "the representation is post-ReLU"


def test_vgg_representation_is_fc7():
    model = create_model("vgg16_bn", 10).eval()
    assert model.features(torch.rand(1, 3, 224, 224)).shape == (1, 4096)
    assert model.net.classifier[6].in_features == 4096


def test_representation_widths_at_full_width():
    expected = {"resnet18": 512, "resnet50": 2048, "wide_resnet50_2": 2048, "densenet161": 2208}
    for arch, dim in expected.items():
        model = create_model(arch, 10, variant="cifar").eval()
        with torch.no_grad():
            assert model.features(torch.rand(1, 3, 32, 32)).shape == (1, dim)


def test_inputs_are_clamped_like_the_robustness_library():
    model = create_model("resnet18", 10, variant="cifar", width=0.125).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x * 3 - 1), model(torch.clamp(x * 3 - 1, 0, 1)))


def test_unknown_architecture_lists_known_ones():
    with pytest.raises(ValueError, match="unknown architecture 'resnet999'.*resnet18.*vgg16_bn"):
        create_model("resnet999", 10)


@pytest.mark.parametrize("kwargs", [dict(variant="mnist"), dict(width=0), dict(num_classes=1)])
def test_bad_model_arguments(kwargs):
    args = dict(arch="resnet18", num_classes=10) | kwargs
    with pytest.raises(ValueError):
        create_model(**args)
