"""CUDA runs checked against the CPU (skipped without a GPU)."""
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from robuniv.attacks import pgd_l2
from robuniv.data import load_split
from robuniv.extract import write_activations
from robuniv.h5io import read_activations
from robuniv.inversion import invert
from robuniv.models import create_model
from robuniv.training import TrainSettings, seed_everything, train_model

pytestmark = pytest.mark.gpu

SPEC = dict(arch="resnet18", num_classes=10, variant="cifar", width=0.25, image_size=8)


@pytest.fixture(scope="module", autouse=True)
def exact_cuda_math():
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def model_pair():
    seed_everything(0)
    cpu = create_model(**SPEC)
    gpu = create_model(**SPEC)
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.cuda()


def test_training_epoch_on_cuda_matches_cpu(tmp_path):
    x, y = load_split("sklearn_digits", "train").tensors
    # One batch = one adversarial SGD step: CPU and CUDA must agree closely.
    cpu, gpu = model_pair()
    step = TrainSettings(epochs=1, batch_size=128, lr=0.05, lr_step=1, eps=0.5)
    one_batch = TensorDataset(x[:128], y[:128])
    train_model(cpu, one_batch, step, checkpoint_path=tmp_path / "c.ckpt")
    train_model(gpu, one_batch, step, checkpoint_path=tmp_path / "g.ckpt", device="cuda")
    worst = max(float((a - b.cpu()).abs().max()) for a, b in zip(cpu.state_dict().values(), gpu.state_dict().values())
                if a.is_floating_point())
    print("one adversarial SGD step: max |weight cpu - cuda| %.2e" % worst)
    assert worst < 1e-4
    # A whole epoch (8 steps): trajectories drift apart by float rounding; the epoch loss stays close.
    cpu, gpu = model_pair()
    data = TensorDataset(x[:1024], y[:1024])
    s_cpu = train_model(cpu, data, step, checkpoint_path=tmp_path / "c.ckpt")
    s_gpu = train_model(gpu, data, step, checkpoint_path=tmp_path / "g.ckpt", device="cuda")
    print("epoch loss cpu %.6f cuda %.6f" % (s_cpu["history"][0]["loss"], s_gpu["history"][0]["loss"]))
    assert s_gpu["history"][0]["loss"] == pytest.approx(s_cpu["history"][0]["loss"], rel=2e-2)


def test_attack_and_inversion_on_cuda_match_cpu():
    cpu, gpu = model_pair()
    cpu.eval(), gpu.eval()
    torch.manual_seed(1)
    x, y = torch.rand(32, 3, 8, 8), torch.randint(0, 10, (32,))
    adv_cpu = pgd_l2(cpu, x, y, eps=0.5, step_size=0.1, steps=10)
    adv_gpu = pgd_l2(gpu, x.cuda(), y.cuda(), eps=0.5, step_size=0.1, steps=10).cpu()
    print("PGD max |cpu - cuda| %.2e" % (adv_cpu - adv_gpu).abs().max())
    assert (adv_cpu - adv_gpu).abs().max() < 1e-3
    seeds, targets = torch.rand(16, 3, 8, 8), torch.rand(16, 3, 8, 8)
    inv_cpu, loss_cpu = invert(cpu, seeds, targets, iterations=10)
    inv_gpu, loss_gpu = invert(gpu, seeds.cuda(), targets.cuda(), iterations=10)
    print("inversion (10 it.) max |loss cpu - cuda| %.2e" % (loss_cpu - loss_gpu.cpu()).abs().max())
    assert torch.allclose(loss_cpu, loss_gpu.cpu(), atol=1e-3)  # seen: 2.5e-4 on an H200
    # Longer runs: normalised-gradient descent amplifies rounding, so single images may part ways.
    _, loss_cpu = invert(cpu, seeds, targets, iterations=50)
    _, loss_gpu = invert(gpu, seeds.cuda(), targets.cuda(), iterations=50)
    print("inversion (50 it.) mean loss cpu %.6f cuda %.6f" % (loss_cpu.mean(), loss_gpu.mean()))
    assert float(loss_gpu.mean()) == pytest.approx(float(loss_cpu.mean()), rel=1e-2)


def test_extraction_on_cuda_matches_cpu(tmp_path):
    cpu, gpu = model_pair()
    images = torch.rand(40, 3, 8, 8)
    batches = lambda: [(np.arange(0, 40), images, np.zeros(40), np.arange(40))]  # noqa: E731
    write_activations(cpu, batches(), tmp_path / "c.h5", n=40, attrs={})
    write_activations(gpu, batches(), tmp_path / "g.h5", n=40, attrs={}, device="cuda")
    c, g = read_activations(tmp_path / "c.h5"), read_activations(tmp_path / "g.h5")
    print("extraction max |cpu - cuda| %.2e" % np.abs(c["representations"] - g["representations"]).max())
    assert np.allclose(c["representations"], g["representations"], atol=1e-4)
    assert np.allclose(c["logits"], g["logits"], atol=1e-4)


def test_bf16_changes_accuracy_inversion_and_representations_little(tmp_path):
    """What bf16 autocast changes on a GPU, measured and bounded: clean/adversarial accuracy of a trained model,
    inversion loss, and CKA between bf16 and fp32 representations of the same inputs."""
    from robuniv.precision import wrap
    from robuniv.similarity import cka
    from robuniv.training import evaluate

    x, y = load_split("sklearn_digits", "train").tensors
    seed_everything(0)
    net = create_model(**SPEC).cuda()
    train_model(net, TensorDataset(x, y), TrainSettings(epochs=3, batch_size=128, lr_step=2, eps=0.5),
                checkpoint_path=tmp_path / "m.ckpt", device="cuda")
    test = TensorDataset(*load_split("sklearn_digits", "eval").tensors)
    acc = {p: evaluate(net, test, attack_eps=0.5, attack_steps=10, device="cuda", precision=p) for p in ("fp32", "bf16")}
    print("accuracy fp32 %.4f / %.4f, bf16 %.4f / %.4f (clean / adversarial)" % (
        acc["fp32"]["clean_accuracy"], acc["fp32"]["adversarial_accuracy"],
        acc["bf16"]["clean_accuracy"], acc["bf16"]["adversarial_accuracy"]))
    assert abs(acc["bf16"]["clean_accuracy"] - acc["fp32"]["clean_accuracy"]) <= 0.02
    assert abs(acc["bf16"]["adversarial_accuracy"] - acc["fp32"]["adversarial_accuracy"]) <= 0.03
    images = test.tensors[0][:256].cuda()
    seeds = images.roll(1, 0)
    _, loss32 = invert(net, seeds, images, iterations=100)
    _, loss16 = invert(wrap(net, "cuda", "bf16"), seeds, images, iterations=100)
    print("inversion (100 it.) mean relative loss fp32 %.4f bf16 %.4f" % (loss32.mean(), loss16.mean()))
    assert float(loss16.mean()) <= 1.1 * float(loss32.mean()) + 0.01
    batches = lambda: [(np.arange(256), images, np.zeros(256), np.arange(256))]  # noqa: E731
    write_activations(net, batches(), tmp_path / "a.h5", n=256, attrs={}, device="cuda")
    write_activations(net, batches(), tmp_path / "b.h5", n=256, attrs={}, device="cuda", precision="bf16")
    a, b = read_activations(tmp_path / "a.h5"), read_activations(tmp_path / "b.h5")
    value = cka(a["representations"], b["representations"])
    agree = float((a["logits"].argmax(1) == b["logits"].argmax(1)).mean())
    print("CKA(bf16, fp32 representations) %.5f, prediction agreement %.4f" % (value, agree))
    assert b["representations"].dtype == np.float32
    assert value >= 0.99 and agree >= 0.98
