import json

import pytest
import torch
from torch.utils.data import TensorDataset

import robuniv.training as training
from robuniv.checkpoints import load_robustness_checkpoint
from robuniv.data import load_split
from robuniv.models import create_model
from robuniv.training import TrainSettings, evaluate, seed_everything, train_model

SPEC = dict(arch="resnet18", num_classes=10, variant="cifar", width=0.125, image_size=8)


@pytest.fixture(scope="module")
def digits():
    train = load_split("sklearn_digits", "train")
    x, y = train.tensors
    return TensorDataset(x[:256], y[:256])


def fresh_model(seed=0):
    seed_everything(seed)
    return create_model(**SPEC)


def weights(model):
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def test_training_is_deterministic_and_writes_robustness_checkpoint(digits, tmp_path):
    settings = TrainSettings(epochs=2, batch_size=64, lr=0.1, lr_step=1, eps=0.5, seed=3)
    a, b = fresh_model(), fresh_model()
    train_model(a, digits, settings, checkpoint_path=tmp_path / "a.ckpt")
    summary = train_model(b, digits, settings, checkpoint_path=tmp_path / "b.ckpt")
    for key, value in weights(a).items():
        assert torch.equal(value, weights(b)[key]), key
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert summary["history"][1]["lr"] == pytest.approx(0.001)  # divided by 10 after each epoch (lr_step 1)
    loaded = load_robustness_checkpoint(tmp_path / "a.ckpt", **SPEC)
    x = digits.tensors[0][:8]
    with torch.no_grad():
        assert torch.equal(loaded(x), a.eval()(x))


def test_resume_after_kill_equals_uninterrupted_run(digits, tmp_path, monkeypatch):
    settings = TrainSettings(epochs=3, batch_size=64, lr=0.05, lr_step=2, eps=0.25, seed=1)
    reference = fresh_model()
    train_model(reference, digits, settings, checkpoint_path=tmp_path / "ref.ckpt")

    real_save = training.save_robustness_checkpoint
    calls = []

    def save_then_die(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        calls.append(kwargs["epoch"])
        if kwargs["epoch"] == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(training, "save_robustness_checkpoint", save_then_die)
    out, resume = tmp_path / "final.ckpt", tmp_path / "resume" / "m.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train_model(fresh_model(), digits, settings, checkpoint_path=out, resume_path=resume)
    assert not out.exists() and resume.exists()
    monkeypatch.setattr(training, "save_robustness_checkpoint", real_save)

    resumed = fresh_model(seed=99)  # other initial weights: everything must come from the checkpoint
    summary = train_model(resumed, digits, settings, checkpoint_path=out, resume_path=resume)
    assert summary["resumed_from_epoch"] == 2
    assert [h["epoch"] for h in summary["history"]] == [1, 2, 3]
    for key, value in weights(reference).items():
        assert torch.equal(value, weights(resumed)[key]), key


def test_resume_ignores_checkpoint_of_other_settings(digits, tmp_path):
    resume = tmp_path / "r.ckpt"
    train_model(fresh_model(), digits, TrainSettings(epochs=1, batch_size=64, lr_step=1),
                checkpoint_path=tmp_path / "a.ckpt", resume_path=resume)
    summary = train_model(fresh_model(), digits, TrainSettings(epochs=1, batch_size=64, lr_step=1, lr=0.01),
                          checkpoint_path=tmp_path / "b.ckpt", resume_path=resume)
    assert summary["resumed_from_epoch"] == 0


def test_adversarial_batches_are_made_in_eval_mode(digits, monkeypatch):
    seen = []
    real = training.pgd

    def spy(model, *args, **kwargs):
        seen.append(model.training)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(training, "pgd", spy)
    model = fresh_model()
    model.train()
    x, y = digits.tensors[0][:8], digits.tensors[1][:8]
    adv = training.adversarial_batch(model, x, y, eps=0.5, steps=3, step_size=1 / 3)
    assert seen == [False] and model.training
    assert ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()


def test_evaluate_counts_like_a_direct_computation(digits):
    model = fresh_model().eval()
    result = evaluate(model, digits, attack_eps=0.5, attack_steps=5, attack_step_factor=2.5 / 5, batch_size=100,
                      max_images=200)
    x, y = digits.tensors[0][:200], digits.tensors[1][:200]
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert result["n_images"] == 200
    assert result["clean_accuracy"] == pytest.approx(clean)
    assert result["adversarial_accuracy"] <= result["clean_accuracy"]
    assert result["attack_step_size"] == pytest.approx(0.5 * 2.5 / 5)


def test_bad_settings():
    with pytest.raises(ValueError, match="eps"):
        TrainSettings(eps=-0.5)
    with pytest.raises(ValueError):
        TrainSettings(epochs=0)


def test_progress_lines_within_an_epoch(digits, tmp_path, monkeypatch, caplog):
    import logging

    monkeypatch.setattr(training, "PROGRESS_INTERVAL_S", 0.0)
    settings = TrainSettings(epochs=1, batch_size=64, lr_step=1)
    with caplog.at_level(logging.INFO, logger="robuniv.training"):
        train_model(fresh_model(), digits, settings, checkpoint_path=tmp_path / "m.ckpt")
    lines = [r.getMessage() for r in caplog.records if "images, loss" in r.getMessage()]
    assert len(lines) == 4  # one per batch with a zero interval (256 images, batch 64)
    assert lines[0].startswith("epoch 1/1: 64/256 images, loss ") and "img/s" in lines[0] and "ETA" in lines[0]
    assert "data wait" in lines[0]
    assert any(r.getMessage().startswith("epoch 1/1 loss") and "img/s" in r.getMessage() for r in caplog.records)


def test_resume_file_removed_after_final_checkpoint_and_identity_change_starts_afresh(digits, tmp_path, monkeypatch):
    settings = TrainSettings(epochs=2, batch_size=64, lr_step=1)
    resume, out = tmp_path / "r.ckpt", tmp_path / "m.ckpt"
    real_save = training.save_robustness_checkpoint

    def die_after_first_epoch(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        if kwargs["epoch"] == 1:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(training, "save_robustness_checkpoint", die_after_first_epoch)
    identity = {"spec": SPEC, "source": {"source": "imagefolder", "classes": ["a", "b"]}}
    with pytest.raises(KeyboardInterrupt):
        train_model(fresh_model(), digits, settings, checkpoint_path=out, resume_path=resume, identity=identity)
    monkeypatch.setattr(training, "save_robustness_checkpoint", real_save)
    assert resume.exists() and not out.exists()
    other = {"spec": SPEC, "source": {"source": "imagefolder", "classes": ["a", "c"]}}  # another class list
    summary = train_model(fresh_model(), digits, settings, checkpoint_path=out, resume_path=resume, identity=other)
    assert summary["resumed_from_epoch"] == 0
    assert out.exists() and not resume.exists()  # deleted once the final checkpoint is written


def reference_training(model, dataset, settings):
    """The recipe written out in one process: per epoch the seeds of (seed, epoch), a permutation in batches,
    PGD examples in eval mode, mean cross-entropy, SGD with momentum and a step schedule."""
    x, y = dataset.tensors
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.effective_weight_decay)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step, gamma=settings.lr_gamma)
    history = []
    for epoch in range(settings.epochs):
        seed_everything(settings.seed * 100_003 + epoch)
        generator = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # a DataLoader's base seed comes first
        order = torch.randperm(len(y), generator=generator)
        model.train()
        total, correct = 0.0, 0
        for start in range(0, len(y), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            images, labels = x[batch], y[batch]
            if settings.eps > 0:
                images = training.adversarial_batch(model, images, labels, settings.eps, settings.attack_steps,
                                                    settings.attack_step_factor * settings.eps)
            logits = model(images)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
        schedule.step()
        history.append({"epoch": epoch + 1, "loss": total / len(y), "train_accuracy": correct / len(y),
                        "lr": optimizer.param_groups[0]["lr"]})
    return history


@pytest.mark.parametrize("eps", [0.0, 0.5])
def test_train_model_equals_the_recipe_written_out(digits, tmp_path, eps):
    settings = TrainSettings(epochs=3, batch_size=48, lr=0.05, lr_step=2, eps=eps, attack_steps=2, seed=5)
    trained, reference = fresh_model(), fresh_model()
    summary = train_model(trained, digits, settings, checkpoint_path=tmp_path / "m.ckpt",
                          resume_path=tmp_path / "r.ckpt", meta={"note": "x"})
    history = reference_training(reference, digits, settings)
    assert summary == {"epochs": 3, "resumed_from_epoch": 0, "history": history}  # exact floats
    for key, value in weights(reference).items():
        assert torch.equal(value, weights(trained)[key]), key
    assert not trained.training and not (tmp_path / "r.ckpt").exists()
    ckpt = training.read_checkpoint(tmp_path / "m.ckpt")
    assert ckpt["epoch"] == 3 and ckpt["robuniv"]["note"] == "x"
    assert ckpt["robuniv"]["train_fingerprint"] == training.run_fingerprint(settings)
    assert json.loads(ckpt["robuniv"]["history"]) == history


def test_resume_checkpoint_after_every_epoch_holds_the_history_so_far(digits, tmp_path, monkeypatch):
    settings = TrainSettings(epochs=2, batch_size=64, lr_step=1)
    real_save, saved = training.save_robustness_checkpoint, []

    def record(path, *args, **kwargs):
        real_save(path, *args, **kwargs)
        saved.append((path, kwargs["epoch"], json.loads(kwargs["meta"]["history"])))

    monkeypatch.setattr(training, "save_robustness_checkpoint", record)
    resume, out = tmp_path / "r.ckpt", tmp_path / "m.ckpt"
    summary = train_model(fresh_model(), digits, settings, checkpoint_path=out, resume_path=resume)
    assert [(p, e, [h["epoch"] for h in hist]) for p, e, hist in saved] == [
        (resume, 1, [1]), (resume, 2, [1, 2]), (out, 2, [1, 2])]
    assert saved[-1][2] == summary["history"]
