"""L2-PGD against the robustness library's own L2Step (reference only), bit for bit on CPU."""
import pytest
import torch
import torch.nn.functional as F
from robustness.attack_steps import L2Step, LinfStep

from robuniv.attacks import pgd, pgd_l2
from robuniv.models import create_model


def robustness_attack(model, x, target, *, eps, step_size, iterations, targeted=False, use_best=True,
                      custom_loss=None, step_class=L2Step):
    """The robustness library's Attacker.forward loop (robustness/attacker.py), with its L2Step (or LinfStep)."""
    orig_input = x.detach()
    m = -1 if targeted else 1
    step = step_class(eps=eps, orig_input=orig_input, step_size=step_size)

    def calc_loss(inp, target):
        if custom_loss:
            return custom_loss(model, inp, target)
        return F.cross_entropy(model(inp), target, reduction="none")

    def replace_best(loss, bloss, x, bx):
        if bloss is None:
            bx = x.clone().detach()
            bloss = loss.clone().detach()
        else:
            replace = m * bloss < m * loss
            bx[replace] = x[replace].clone().detach()
            bloss[replace] = loss[replace]
        return bloss, bx

    best_loss, best_x = None, None
    for _ in range(iterations):
        x = x.clone().detach().requires_grad_(True)
        losses = calc_loss(step.to_image(x), target)
        loss = torch.mean(losses)
        grad, = torch.autograd.grad(m * loss, [x])
        with torch.no_grad():
            best_loss, best_x = replace_best(losses, best_loss, x, best_x) if use_best else (losses, x)
            x = step.step(x, grad)
            x = step.project(x)
    if not use_best:
        return step.to_image(x.clone().detach())
    losses = calc_loss(step.to_image(x), target)
    best_loss, best_x = replace_best(losses, best_loss, x, best_x)
    return step.to_image(best_x)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("resnet18", 10, variant="cifar", width=0.25, image_size=16).eval()


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("use_best", [True, False])
@pytest.mark.parametrize("eps,steps", [(0.5, 3), (2.0, 7), (0.05, 10)])
def test_pgd_l2_is_bit_identical_to_robustness_library(model, targeted, use_best, eps, steps):
    torch.manual_seed(1)
    x = torch.rand(16, 3, 16, 16)
    x[:, :, :3] = 0.0  # pixels sitting at the box edges: the clamp in the normaliser zeroes their gradient
    x[:, :, -3:] = 1.0
    y = torch.randint(0, 10, (16,))
    step_size = 2 * eps / 3
    ours = pgd_l2(model, x, y, eps=eps, step_size=step_size, steps=steps, targeted=targeted, use_best=use_best)
    ref = robustness_attack(model, x, y, eps=eps, step_size=step_size, iterations=steps, targeted=targeted,
                            use_best=use_best)
    assert torch.equal(ours, ref)
    assert not torch.equal(ours, x)


def test_custom_loss_matches_reference(model):
    torch.manual_seed(2)
    x, y = torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,))

    def margin(m, images, labels):
        logits = m(images)
        return logits.gather(1, labels[:, None]).squeeze(1) - logits.mean(1)

    ours = pgd_l2(model, x, y, eps=1.0, step_size=0.25, steps=5, loss_fn=margin)
    ref = robustness_attack(model, x, y, eps=1.0, step_size=0.25, iterations=5, custom_loss=margin)
    assert torch.equal(ours, ref)


def test_constraints_hold_and_attack_raises_loss(model):
    torch.manual_seed(3)
    x, y = torch.rand(32, 3, 16, 16), torch.randint(0, 10, (32,))
    adv = pgd_l2(model, x, y, eps=0.5, step_size=0.125, steps=10)
    norms = (adv - x).flatten(1).norm(dim=1)
    assert (norms <= 0.5 + 1e-5).all()
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        before = F.cross_entropy(model(x), y, reduction="none")
        after = F.cross_entropy(model(adv), y, reduction="none")
    assert (after >= before - 1e-6).all(), "use_best keeps the start point if nothing beats it"
    assert after.mean() > before.mean()


def test_targeted_attack_lowers_target_loss(model):
    torch.manual_seed(4)
    x = torch.rand(16, 3, 16, 16)
    target = torch.full((16,), 3)
    adv = pgd_l2(model, x, target, eps=2.0, step_size=0.5, steps=10, targeted=True)
    with torch.no_grad():
        assert F.cross_entropy(model(adv), target) < F.cross_entropy(model(x), target)


def test_zero_eps_returns_the_input(model):
    x, y = torch.rand(4, 3, 16, 16), torch.randint(0, 10, (4,))
    assert torch.equal(pgd_l2(model, x, y, eps=0.0, step_size=0.0, steps=3), x)


def test_negative_eps_is_rejected(model):
    with pytest.raises(ValueError, match="eps"):
        pgd_l2(model, torch.rand(1, 3, 16, 16), torch.tensor([0]), eps=-1, step_size=0.1, steps=1)


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("use_best", [True, False])
@pytest.mark.parametrize("eps,steps", [(4 / 255, 3), (8 / 255, 7), (0.1, 10)])
def test_pgd_linf_is_bit_identical_to_robustness_library(model, targeted, use_best, eps, steps):
    torch.manual_seed(3)
    x = torch.rand(16, 3, 16, 16)
    x[:, :, :3] = 0.0
    x[:, :, -3:] = 1.0
    y = torch.randint(0, 10, (16,))
    step_size = 2.5 * eps / steps
    ours = pgd(model, x, y, eps=eps, step_size=step_size, steps=steps, threat="linf", targeted=targeted,
               use_best=use_best)
    ref = robustness_attack(model, x, y, eps=eps, step_size=step_size, iterations=steps, targeted=targeted,
                            use_best=use_best, step_class=LinfStep)
    assert torch.equal(ours, ref)
    assert (ours - x).abs().max() <= eps + 1e-7 and not torch.equal(ours, x)
