import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from robuniv import config as rc

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def demo():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_shipped_configs_validate(demo):
    validate(copy.deepcopy(demo), SCHEMA)
    rc.check_config(demo)
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        validate(cfg, SCHEMA)
        rc.check_config(cfg)


def test_unknown_key_is_named(demo):
    demo["datasets"]["digits"]["models"]["resnet18"]["widht"] = 0.5
    with pytest.raises(WorkflowError, match="widht"):
        validate(demo, SCHEMA)


def test_negative_eps_is_rejected(demo):
    demo["datasets"]["digits"]["eps"] = [0, -0.5]
    with pytest.raises(WorkflowError, match="-0.5"):
        validate(copy.deepcopy(demo), SCHEMA)
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.eps"):
        rc.check_config(demo)


def test_unknown_architecture_lists_known(demo):
    demo["datasets"]["digits"]["models"]["resnet18"]["arch"] = "resnet19"
    with pytest.raises(rc.ConfigError, match=r"models\.resnet18\.arch.*resnet19.*known: .*densenet161"):
        rc.check_config(demo)


def test_missing_path(demo):
    demo["datasets"]["cifar"] = {"source": "cifar10", "eps": [0], "models": {"m": {"arch": "resnet18"}}}
    with pytest.raises(rc.ConfigError, match=r"datasets\.cifar\.path"):
        rc.check_config(demo)


def test_checkpoint_urls_and_settings(demo):
    ds = demo["datasets"]["digits"]
    ds["models"]["resnet18"]["checkpoint"] = "https://x/resnet18_l2_eps{eps}.ckpt"
    ds["models"]["vgg16_bn"]["checkpoint"] = {0: "https://x/vgg_eps0.ckpt", 1: "https://x/vgg_eps1.ckpt"}
    rc.check_config(demo)
    assert rc.checkpoint_url(demo, "digits", "resnet18", "0.25") == "https://x/resnet18_l2_eps0.25.ckpt"
    assert rc.checkpoint_url(demo, "digits", "resnet18", 3.0) == "https://x/resnet18_l2_eps3.ckpt"
    assert rc.checkpoint_url(demo, "digits", "vgg16_bn", "1") == "https://x/vgg_eps1.ckpt"
    assert rc.checkpoint_url(demo, "digits", "vgg16_bn", "0.5") is None
    assert rc.checkpoint_url(demo, "digits", "densenet121", "0") is None
    ds["models"]["vgg16_bn"]["checkpoint"] = {5: "https://x/vgg_eps5.ckpt"}
    with pytest.raises(rc.ConfigError, match="vgg16_bn.checkpoint: ε 5 not in"):
        rc.check_config(demo)


def test_training_settings_merge_source_dataset_model(demo):
    t = rc.training_settings(demo, "digits", "vgg16_bn", "0.5")
    assert t["eps"] == 0.5 and t["seed"] == 0
    assert t["lr"] == 0.05  # model entry
    assert t["batch_size"] == 128  # data set
    assert t["attack_steps"] == 3 and t["attack_step_factor"] == pytest.approx(2 / 3)  # source defaults


def test_format_eps():
    assert [rc.format_eps(e) for e in (0, 0.25, 1.0, 3, "0.50")] == ["0", "0.25", "1", "3", "0.5"]


def test_cifar_standard_models_use_their_own_weight_decay():
    cfg = yaml.safe_load((ROOT / "configs" / "cifar10.yaml").read_text())
    assert rc.training_settings(cfg, "cifar10", "resnet18", 0)["weight_decay"] == 5e-4
    robust = rc.training_settings(cfg, "cifar10", "resnet18", 1)
    assert robust["weight_decay"] == 1e-4 and "weight_decay_standard" not in robust
