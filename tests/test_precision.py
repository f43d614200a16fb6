"""bf16 autocast is applied where asked; fp32 is bit-identical to code without autocast."""
import numpy as np
import torch

from robuniv.attacks import pgd_l2
from robuniv.extract import write_activations
from robuniv.h5io import read_activations
from robuniv.inversion import invert
from robuniv.models import create_model
from robuniv.precision import Autocast, autocast, wrap
from robuniv.similarity import cka
from robuniv.training import TrainSettings, seed_everything, train_model

SPEC = dict(arch="resnet18", num_classes=10, variant="cifar", width=0.125, image_size=8)


def model():
    seed_everything(0)
    return create_model(**SPEC).eval()


def conv_dtypes(net):
    seen = []
    first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


def test_bf16_autocast_is_applied_and_outputs_stay_float32():
    net = model()
    seen = conv_dtypes(net)
    x = torch.rand(4, 3, 8, 8)
    view = wrap(net, "cpu", "bf16")
    assert isinstance(view, Autocast)
    out, feats = view(x), view.forward_features(x)
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert out.dtype == feats.dtype == torch.float32
    view.train()
    assert net.training  # the view switches the wrapped model's mode
    assert set(view.state_dict()) == {f"module.{k}" for k in net.state_dict()}


def test_fp32_is_bit_identical_to_no_autocast():
    net = model()
    seen = conv_dtypes(net)
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 10, (8,))
    assert wrap(net, "cpu", "fp32") is net
    with autocast("cpu", "fp32"):
        inside = net(x)
    assert torch.equal(inside, net(x)) and set(seen) == {torch.float32}
    plain = pgd_l2(net, x, y, eps=0.5, step_size=0.2, steps=3)
    with autocast("cpu", "fp32"):
        again = pgd_l2(wrap(net, "cpu", "fp32"), x, y, eps=0.5, step_size=0.2, steps=3)
    assert torch.equal(plain, again)


def test_bf16_pgd_and_inversion_run_and_stay_close(tmp_path):
    net = model()
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 10, (16,))
    adv = pgd_l2(wrap(net, "cpu", "bf16"), x, y, eps=0.5, step_size=0.2, steps=3)
    assert adv.dtype == torch.float32 and ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()
    _, loss32 = invert(net, x, x.flip(0), iterations=5)
    _, loss16 = invert(wrap(net, "cpu", "bf16"), x, x.flip(0), iterations=5)
    assert loss16.dtype == torch.float32
    assert abs(float(loss16.mean()) - float(loss32.mean())) < 0.1 * float(loss32.mean()) + 1e-3


def test_bf16_extraction_writes_float32_close_to_fp32(tmp_path):
    net = model()
    images = torch.rand(64, 3, 8, 8)
    batches = lambda: [(np.arange(64), images, np.zeros(64), np.arange(64))]  # noqa: E731
    write_activations(net, batches(), tmp_path / "a.h5", n=64, attrs={})
    write_activations(net, batches(), tmp_path / "b.h5", n=64, attrs={}, precision="bf16")
    a, b = read_activations(tmp_path / "a.h5"), read_activations(tmp_path / "b.h5")
    assert b["representations"].dtype == np.float32 and b["logits"].dtype == np.float32
    assert b["attrs"]["precision"] == "bf16"
    assert cka(a["representations"], b["representations"]) > 0.98


def test_bf16_training_runs_under_autocast(tmp_path):
    from torch.utils.data import TensorDataset

    net = model()
    seen = conv_dtypes(net)
    data = TensorDataset(torch.rand(32, 3, 8, 8), torch.randint(0, 10, (32,)))
    settings = TrainSettings(epochs=1, batch_size=16, lr_step=1, eps=0.5, attack_steps=2, precision="bf16")
    summary = train_model(net, data, settings, checkpoint_path=tmp_path / "m.ckpt")
    assert set(seen) == {torch.bfloat16} and np.isfinite(summary["history"][0]["loss"])
    assert all(p.dtype == torch.float32 for p in net.parameters())
