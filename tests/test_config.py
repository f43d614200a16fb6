import copy
import importlib.util
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robuniv import config as rc
from robuniv import settings as st

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def shipped_configs():
    return [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml")), ROOT / ".test" / "config.yaml",
            ROOT / "tests" / "slurm" / "config.yaml"]


@pytest.mark.parametrize("path", shipped_configs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_validate(path):
    cfg = yaml.safe_load(path.read_text())
    rc.validate(cfg, str(path))
    if "robustbench:" in path.read_text() and importlib.util.find_spec("robustbench") is None:
        # Without the optional extra the plan must stop with the install hint, naming the key
        # (tests/test_robustbench.py checks this config where RobustBench is installed).
        with pytest.raises(rc.ConfigError, match=r"datasets\.\w+\.models\.\w+\.arch: .*robuniv\[robustbench\]"):
            rc.check_config(cfg)
        return
    rc.check_config(cfg)


def test_config_module_does_not_import_torch():
    code = ("import sys, robuniv.config, robuniv.settings, robuniv.catalog, robuniv.sources, robuniv.architectures, "
            "robuniv.measures; robuniv.config.load_schema(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_schema_sections_equal_settings_fields():
    """Every default lives in robuniv.settings; the schema must know exactly those keys."""
    schema = rc.load_schema()
    props = schema["$defs"]["dataset"]["properties"]
    for section, cls in st.SECTIONS.items():
        node = schema["$defs"]["training"] if section == "training" else props[section]
        schema_keys = set(node["properties"])
        fields = {f.name for f in dataclasses.fields(cls)}
        if section == "training":
            fields -= {"eps", "seed"}  # from the job's ε and the model's seed
        if section in ("training", "evaluation"):
            fields -= {"threat"}  # from the data set's threat
        assert schema_keys == fields, section
    dataset_fields = {f.name for f in dataclasses.fields(st.DatasetSettings)}
    assert dataset_fields <= set(props)
    assert set(schema["properties"]["figures"]["properties"]) == {f.name for f in dataclasses.fields(st.FigureSettings)}
    assert set(schema["properties"]["spearman"]["properties"]) == {f.name for f in dataclasses.fields(st.SpearmanSettings)}
    assert set(schema["$defs"]["model"]["properties"]) == {f.name for f in dataclasses.fields(st.ModelSettings)}


def test_schema_names_come_from_the_catalogues_not_the_file():
    from robuniv import catalog
    from robuniv.architectures import ARCHITECTURES
    from robuniv.sources import SOURCES, option_keys

    raw = yaml.safe_load(rc.SCHEMA.read_text())["$defs"]
    for node in (raw["dataset"]["properties"]["source"], raw["model"]["properties"]["arch"], raw["rule"]):
        assert "enum" not in node, f"names written in the schema file by hand: {node}"
    assert "allOf" not in raw["dataset"]
    defs = rc.load_schema()["$defs"]
    assert defs["dataset"]["properties"]["source"]["enum"] == list(SOURCES)
    built_in, provider = defs["model"]["properties"]["arch"]["anyOf"]
    assert built_in["enum"] == list(ARCHITECTURES)
    assert provider["pattern"].startswith("^(timm|torchvision|robustbench):")  # checked against the library at plan time
    assert defs["rule"]["enum"] == list(catalog.RULES)
    # the schema types every option key some source reads, and no other source option
    assert set(option_keys()) <= set(defs["dataset"]["properties"])
    required = {rule["if"]["properties"]["source"]["const"]: rule["then"]["required"] for rule in defs["dataset"]["allOf"]}
    assert required == {s.name: list(s.required) for s in SOURCES.values() if s.required}


def test_a_source_without_its_required_option_fails_the_schema(demo):
    demo["datasets"]["digits"]["source"] = "cifar10"
    with pytest.raises(rc.ConfigError, match="datasets.digits: 'path' is a required property"):
        rc.validate(demo, "config.yaml")


def test_an_option_the_source_does_not_read_is_refused(demo):
    demo["datasets"]["digits"]["classes"] = "imagenet100"
    with pytest.raises(rc.ConfigError, match=r"datasets.digits.classes: data source 'sklearn_digits' does not read"):
        rc.check_config(demo)


def test_plan_fields_stay_out_of_params():
    # choosing which ε are analysed, a figure's model, or where a checkpoint comes from reruns no job
    assert "eps" not in st.as_params(st.SubgroupSettings(eps=(0.0, 3.0)))
    assert "eps" not in st.as_params(st.ProbeSettings(eps=3.0))
    assert "figure_model" not in st.as_params(st.DatasetSettings(figure_model="m"))
    model = st.ModelSettings(arch="resnet18", width=1, eps=(0.0,), checkpoint="x{eps}", sha256={0: "a" * 64})
    assert st.as_params(model) == {"arch": "resnet18", "width": 1.0, "seed": 0}
    assert st.from_params(st.ModelSettings, st.as_params(model)) == st.ModelSettings(arch="resnet18")


def test_schema_error_names_the_key_not_the_schema(demo):
    demo["datasets"]["digits"]["models"]["resnet18"]["widht"] = 0.5
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo, "config.yaml")
    message = str(err.value)
    assert "config.yaml: datasets.digits.models.resnet18" in message and "widht" in message
    assert len(message.splitlines()) == 1 and len(message) < 300


@pytest.mark.parametrize("edit, where", [
    (lambda d: d["datasets"]["digits"].update(eps=[0, -0.5]), "datasets.digits.eps.1"),
    (lambda d: d["datasets"]["digits"]["models"]["resnet18"].update(arch="resnet19"),
     "datasets.digits.models.resnet18.arch"),
    (lambda d: d["datasets"].update(cifar={"source": "cifar10", "eps": [0],
                                            "models": {"m": {"arch": "resnet18"}, "n": {"arch": "vgg16"}}}),
     "datasets.cifar"),
    (lambda d: d.update(threads={"compare": 2}), "threads"),
    (lambda d: d["datasets"]["digits"].update(resources={"compare_regular": {"mem_mb": 10}}),
     "datasets.digits.resources"),
    (lambda d: d["datasets"]["digits"]["models"].update(_resnet={"arch": "resnet18"}), "datasets.digits.models"),
    (lambda d: d["datasets"].update({"..": d["datasets"]["digits"]}), "datasets"),
])
def test_schema_rejects_with_the_key_path(demo, edit, where):
    edit(demo)
    with pytest.raises(rc.ConfigError, match=r"^config: " + where.replace(".", r"\.")):
        rc.validate(demo)


def test_known_rule_names_are_accepted(demo):
    demo["threads"] = {"compare_models": 2, "summarise_representations": 2}
    demo["datasets"]["digits"]["resources"] = {"compare_models": {"mem_mb": 100}}
    rc.validate(demo)


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
    with pytest.raises(rc.ConfigError, match=r"vgg16_bn\.checkpoint: ε 5 is not an ε of this model"):
        rc.check_config(demo)


def test_url_template_with_an_unknown_field_is_named(demo):
    demo["datasets"]["digits"]["models"]["resnet18"]["checkpoint"] = "https://x/{arch}_eps{eps}.ckpt"
    with pytest.raises(rc.ConfigError, match=r"resnet18\.checkpoint: unknown field\(s\) \{arch\}"):
        rc.check_config(demo)


def test_sha256_of_a_trained_eps_is_an_error(demo):
    demo["datasets"]["digits"]["models"]["resnet18"]["sha256"] = {0: "a" * 64}
    with pytest.raises(rc.ConfigError, match=r"resnet18\.sha256: ε 0 is trained here"):
        rc.check_config(demo)
    demo["datasets"]["digits"]["models"]["resnet18"]["checkpoint"] = {0: "/ckpts/r18.ckpt"}
    rc.check_config(demo)
    assert rc.checkpoint_sha256(demo, "digits", "resnet18", "0") == "a" * 64


def test_training_settings_merge_source_dataset_model(demo):
    t = rc.training_settings(demo, "digits", "vgg16_bn", "0.5")
    assert t.eps == 0.5 and t.seed == 0
    assert t.lr == 0.05 and t.epochs == 8  # model entry
    assert t.batch_size == 128  # data set
    assert t.attack_steps == 3 and t.attack_step_factor == pytest.approx(2 / 3)  # settings defaults
    assert t.weight_decay == 5e-4  # the digits source's override


def test_unknown_training_key_in_a_model_is_named(demo):
    demo["datasets"]["digits"]["models"]["resnet18"]["training"] = {"epoch": 3}
    with pytest.raises(st.SettingsError, match=r"datasets\.digits\.models\.resnet18\.training\.epoch"):
        rc.check_config(demo)


def test_cifar_standard_models_use_their_own_weight_decay():
    cfg = yaml.safe_load((ROOT / "configs" / "cifar10.yaml").read_text())
    assert rc.training_settings(cfg, "cifar10", "resnet18", 0).effective_weight_decay == 5e-4
    assert rc.training_settings(cfg, "cifar10", "resnet18", 1).effective_weight_decay == 1e-4


@pytest.mark.parametrize("eps, text", [(0, "0"), (0.25, "0.25"), (1.0, "1"), (3, "3"), ("0.50", "0.5"),
                                       (0.00001, "0.00001"), (1e-7, "0.0000001"), (10, "10"), (2.5e3, "2500")])
def test_format_eps_is_positional(eps, text):
    import re

    assert rc.format_eps(eps) == text
    assert re.fullmatch(rc.EPS_PATTERN, text)


@pytest.mark.parametrize("bad", [float("nan"), -1, float("inf")])
def test_format_eps_rejects(bad):
    with pytest.raises(rc.ConfigError):
        rc.format_eps(bad)


@pytest.mark.parametrize("name", ["_resnet", "resnet_", "a__b", "..", ".hidden", "a/b", "", "a b"])
def test_bad_names(name):
    with pytest.raises(rc.ConfigError, match="name"):
        rc.check_name(name, "datasets.x.models")


@pytest.mark.parametrize("name", ["resnet18", "wide_resnet50_2", "resnext50_32x4d", "r18-seed.1", "A1"])
def test_good_names(name):
    rc.check_name(name, "datasets.x.models")


def test_one_model_data_set_is_stopped_early(demo):
    ds = demo["datasets"]["digits"]
    ds["models"] = {"resnet18": ds["models"]["resnet18"]}
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.models: at least two models"):
        rc.check_config(demo)


def test_per_model_eps_selects_pairs(demo):
    ds = demo["datasets"]["digits"]
    ds["models"]["vgg16_bn"]["eps"] = [0, 1]
    rc.check_config(demo)
    assert rc.models_at(demo, "digits", "0.25") == ["resnet18", "densenet121"]
    assert rc.pairs_at(demo, "digits", "0.25") == [("resnet18", "densenet121")]
    assert len(rc.pairs_at(demo, "digits", "1", ordered=True)) == 6
    ds["models"]["vgg16_bn"]["eps"] = [0, 2]
    with pytest.raises(rc.ConfigError, match=r"vgg16_bn\.eps: ε 2 not in datasets\.digits\.eps"):
        rc.check_config(demo)


def test_subgroup_and_probe_eps_must_exist(demo):
    bad = copy.deepcopy(demo)
    bad["datasets"]["digits"]["subgroups"]["eps"] = [3]
    with pytest.raises(rc.ConfigError, match=r"subgroups\.eps: ε 3"):
        rc.check_config(bad)
    demo["datasets"]["digits"]["probes"] = {"eps": 2}
    with pytest.raises(rc.ConfigError, match=r"probes\.eps: ε 2"):
        rc.check_config(demo)


def test_jaccard_k_below_n_inputs(demo):
    demo["datasets"]["digits"]["similarity"]["jaccard_k"] = [10, 200]
    with pytest.raises(rc.ConfigError, match=r"jaccard_k: every k must be < n_inputs \(200\)"):
        rc.check_config(demo)


def test_training_gpus_come_from_the_training_setting(demo):
    demo["datasets"]["digits"]["training"]["gpus"] = 2
    rc.check_config(demo)
    demo["datasets"]["digits"]["resources"] = {"train_model": {"gpu": 0}}  # CPU-only: allowed
    rc.check_config(demo)
    demo["datasets"]["digits"]["resources"] = {"train_model": {"gpu": 4}}
    with pytest.raises(rc.ConfigError, match=r"datasets\.digits\.resources\.train_model\.gpu: set GPUs of a training job"):
        rc.check_config(demo)


def test_absent_inputs_name_the_key_the_path_and_what_belongs_there(tmp_path):
    cfg = {"datasets": {
        "tree": {"source": "imagefolder", "path": "data/imagenet", "eps": [0],
                 "models": {"r": {"arch": "resnet18", "checkpoint": "ckpts/r_{eps}.ckpt"},
                            "web": {"arch": "resnet18", "checkpoint": "https://example.org/r_{eps}.ckpt"},
                            "trained": {"arch": "resnet18"}}},
        "c10": {"source": "cifar10", "path": "data/cifar", "download": True, "eps": [0],
                "models": {"m": {"arch": "resnet18"}}},
        "digits": {"source": "sklearn_digits", "eps": [0], "models": {"m": {"arch": "resnet18"}}}}}
    lines = rc.absent_inputs(cfg, root=tmp_path)
    assert lines == [
        "datasets.tree.path: data/imagenet does not exist; place the data there (imagefolder: ImageNet-style "
        "<path>/train and <path>/val class folders)",
        "datasets.tree.models.r.checkpoint: ε 0: ckpts/r_0.ckpt does not exist; place the checkpoint there or give "
        "its URL"]
    (tmp_path / "data" / "imagenet").mkdir(parents=True)
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "r_0.ckpt").write_bytes(b"x")
    assert rc.absent_inputs(cfg, root=tmp_path) == []
    cfg["datasets"]["c10"]["download"] = False  # nothing to fetch it: its absence is said too
    assert rc.absent_inputs(cfg, root=tmp_path) == [
        "datasets.c10.path: data/cifar does not exist; place the data there (cifar10: CIFAR-10 python batches under "
        "<path>/cifar-10-batches-py)"]


@pytest.mark.parametrize("text, message", [
    ("datasets:\n  digits:\n    eps: [0, 1\n    source: x\n", r", line 4, column 11: not valid YAML \(expected ',' or ']'"),
    ("", r": the file is empty; a config needs at least 'datasets:'"),
    ("- a\n- b\n", r": the file holds a list, not the mapping of keys a config is"),
])
def test_malformed_config_files_are_named_with_their_line(tmp_path, text, message):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(rc.ConfigError, match=rf"^{re.escape(str(path))}{message}"):
        rc.check_yaml_file(path)
    proc = subprocess.run([sys.executable, "-m", "robuniv.config", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and str(path) in proc.stderr


def test_messages_say_when_config_overrides_were_given():
    assert rc.config_source([], {}) == "config.yaml"
    assert rc.config_source(["configs/cifar10.yaml"], {"threads": 5}) == (
        "configs/cifar10.yaml with the --config overrides threads=5")


def test_the_data_sets_threat_reaches_training_and_evaluation_only_where_set(demo):
    ds = demo["datasets"]["digits"]
    default = rc.training_settings(demo, "digits", "resnet18", "1")
    assert default.threat == "l2" and "threat" not in st.as_params(default)  # l2 configs keep their params
    assert "threat" not in st.as_params(rc.evaluation_settings(demo, "digits"))
    ds["threat"] = "linf"
    assert st.as_params(rc.training_settings(demo, "digits", "resnet18", "1"))["threat"] == "linf"
    assert st.as_params(rc.evaluation_settings(demo, "digits"))["threat"] == "linf"
    assert "threat" not in st.as_params(rc.dataset_settings(demo, "digits"))  # inversion and extraction: unchanged
