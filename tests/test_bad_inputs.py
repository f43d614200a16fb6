"""Issue 10, "nothing silently wrong": a table of bad inputs, each giving the right result or a clear error.

Every row of :data:`CASES` builds its input with robuniv's own writers (checkpoints by
``save_robustness_checkpoint``, HDF5 files by the job functions, then damaged by cutting bytes; JPEGs by
PIL; CIFAR batches by pickle) and either asserts the error (type, and a message naming the file, key or
model) or checks the result. ``before`` records how the case behaved before issue 10's fixes, where known.
"""
from __future__ import annotations

import copy
import errno
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import h5py
import numpy as np
import pytest
import torch
import yaml

from robuniv import config as rc
from robuniv import jobs
from robuniv.atomic import atomic_path
from robuniv.checkpoints import (CheckpointError, DownloadError, atomic_save, download, load_robustness_checkpoint,
                                 save_robustness_checkpoint)
from robuniv import settings as st
from robuniv.data import DataError, load_split
from robuniv.h5io import H5Error, read_activations, read_inputs, read_knn
from robuniv.provenance import DigestCache, ReplacedCheckpointError, check_checkpoints
from robuniv.tables import TableError
from robuniv.models import create_model
from robuniv.training import TrainSettings, run_fingerprint, seed_everything, train_model

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {"source": "sklearn_digits"}
MODEL_A = st.ModelSettings(arch="resnet18", width=0.125, seed=0)
MODEL_B = st.ModelSettings(arch="vgg16_bn", width=0.125, seed=0)
DS = st.DatasetSettings(n_inputs=40, batch_size=16)


# ---------------------------------------------------------------- fixtures made by robuniv's own writers
class Files:
    """Files every case may read (never written to: a case copies what it damages)."""


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    root = tmp_path_factory.mktemp("fx")
    f = Files()
    f.root = root
    f.spec = jobs.model_spec(SOURCE, MODEL_A)
    for name, model in (("a", MODEL_A), ("b", MODEL_B)):
        seed_everything(model.seed)
        net = create_model(**jobs.model_spec(SOURCE, model))
        save_robustness_checkpoint(root / f"{name}.ckpt", net, epoch=1)
    f.ckpt_a, f.ckpt_b = root / "a.ckpt", root / "b.ckpt"
    f.inputs = root / "inputs.h5"
    jobs.prepare_inputs(SOURCE, DS, "digits", f.inputs)
    f.act = {}
    for name, model in (("a", MODEL_A), ("b", MODEL_B)):
        f.act[name] = root / f"act_{name}.h5"
        jobs.extract_activations(root / f"{name}.ckpt", f.inputs, SOURCE, model, DS, dataset="digits",
                                 model_name=name, eps=0, input_set="regular", out=f.act[name], device="cpu")
    f.knn = root / "knn_a.h5"
    jobs.build_knn_graph(f.act["a"], 5, f.knn, device="cpu")
    f.inverted = root / "inverted_a.h5"
    jobs.invert_images(f.ckpt_a, f.inputs, SOURCE, MODEL_A, st.InversionSettings(iterations=2), DS, dataset="digits",
                       model_name="a", eps=0, out=f.inverted, device="cpu")
    f.probe = {}
    for name, eps in (("a", 0), ("b", 0)):
        f.probe[name] = root / f"probe_{name}.h5"
        jobs.train_probes(f.act[name], f.act[name], st.ProbeSettings(n_probes=2, epochs=1), dataset="digits",
                          model_name=name, eps=eps, out=f.probe[name], device="cpu")
    return f


def demo_config() -> dict:
    return yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())


def truncated(src: Path, dest: Path, keep: float = 0.5) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def copied(src: Path, dest: Path) -> Path:
    shutil.copyfile(src, dest)
    return dest


def _replaced(src, dest, name, edit):
    """A copy of the HDF5 file ``src`` whose dataset ``name`` is ``edit(its values)``."""
    path = copied(src, dest)
    with h5py.File(path, "r+") as fh:
        values = edit(fh[name][()])
        del fh[name]
        fh[name] = values
    return path


def esc(value) -> str:
    return re.escape(str(value))


# ---------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    kind: str  # config, checkpoint, data, hdf5, library, faults
    before: str  # how the case behaved before issue 10 (where known)
    build: Callable[[Path, Any, Any], tuple]  # (tmp, fx, monkeypatch) -> (thunk, pattern or result check)
    exc: Optional[type] = None  # None: the thunk must return and pass the check
    xfail: Optional[str] = None


CASES: list[Case] = []


def case(id, kind, exc=None, before="", xfail=None):
    def register(build):
        CASES.append(Case(id, kind, before, build, exc, xfail))
        return build
    return register


# ---- config --------------------------------------------------------------------------------------
def _config_error(edit, *, schema: bool):
    def build(tmp, fx, mp):
        cfg = demo_config()
        edit(cfg)
        return (lambda: rc.validate(cfg, "my.yaml")) if schema else (lambda: rc.check_config(cfg))
    return build


def add_config_case(id, edit, pattern, *, schema, before=""):
    build = _config_error(edit, schema=schema)
    CASES.append(Case(id, "config", before, lambda tmp, fx, mp: (build(tmp, fx, mp), pattern), rc.ConfigError))


def _models(cfg):
    return cfg["datasets"]["digits"]["models"]


add_config_case("model name with leading '_'", lambda c: _models(c).update(_resnet=st.as_params(MODEL_A)),
                r"^my\.yaml: datasets\.digits\.models: '_resnet' does not match", schema=True,
                before="silently wrong: '_a__b' pair names split wrongly")
add_config_case("model name holding '__'", lambda c: _models(c).update(res__net=st.as_params(MODEL_A)),
                r"datasets\.digits\.models: name 'res__net' must be letters", schema=False,
                before="silently wrong")
add_config_case("model name with trailing '_' (check_config)",
                lambda c: _models(c).update(resnet_=st.as_params(MODEL_A)),
                r"datasets\.digits\.models: name 'resnet_'", schema=False, before="silently wrong")
add_config_case("data set named '..'", lambda c: c["datasets"].update({"..": c["datasets"]["digits"]}),
                r"^my\.yaml: datasets: '\.\.' does not match", schema=True, before="silently wrong: results/../")
add_config_case("one-model data set", lambda c: _models(c).pop("vgg16_bn"),
                r"datasets\.digits\.models: at least two models must exist at one ε", schema=False,
                before="silently wrong: empty tables and figures")
add_config_case("unknown per-rule resource key",
                lambda c: c["datasets"]["digits"].update(resources={"compare": {"mem_mb": 10}}),
                r"^my\.yaml: datasets\.digits\.resources: 'compare' is not one of", schema=True,
                before="unclear: ignored")
add_config_case("schema error: key path only, one line",
                lambda c: _models(c)["resnet18"].update(widht=0.5),
                r"^my\.yaml: datasets\.digits\.models\.resnet18: Additional properties .*'widht'[^\n]{0,120}$",
                schema=True, before="unclear: the whole schema was printed")
def _measures(cfg, chosen):
    cfg["datasets"]["digits"].setdefault("similarity", {})["measures"] = chosen


add_config_case("misspelt measure in similarity.measures", lambda c: _measures(c, ["cka", "mutual_kn@10"]),
                r"datasets\.digits\.similarity\.measures: unknown measure 'mutual_kn@10' \(did you mean "
                r"mutual_knn@10", schema=False, before="new key (issue 19)")
add_config_case("Jaccard k not computed", lambda c: _measures(c, ["jaccard@20"]),
                r"datasets\.digits\.similarity\.measures: jaccard@20 needs k = 20 in "
                r"datasets\.digits\.similarity\.jaccard_k", schema=False, before="new key (issue 19)")
add_config_case("kNN measure with k >= n_inputs", lambda c: _measures(c, ["cknna@500"]),
                r"similarity\.measures: cknna@500: k must be < n_inputs \(40\)", schema=False,
                before="new key (issue 19)")
add_config_case("catalogue setting out of range",
                lambda c: c["datasets"]["digits"].update(catalogue={"rsa_outer": "kendall"}),
                r"^my\.yaml: datasets\.digits\.catalogue\.rsa_outer: 'kendall' is not one of", schema=True,
                before="new key (issue 19)")
add_config_case("figure 4 panel of an unknown measure", lambda c: c.setdefault("figures", {}).update(measures=["ckaa"]),
                r"^figures\.measures: unknown measure 'ckaa' \(did you mean cka", schema=False,
                before="new key (issue 19)")
add_config_case("URL template with an unknown field",
                lambda c: _models(c)["resnet18"].update(checkpoint="https://x/r18_eps{epsilon}.ckpt"),
                r"datasets\.digits\.models\.resnet18\.checkpoint: unknown field\(s\) \{epsilon\}", schema=False,
                before="unclear: KeyError at download time")
add_config_case("--configfile typo: 'dataset' at top level",
                lambda c: c.update(dataset=c.pop("datasets")),
                r"^my\.yaml: \(top level\): .*'datasets?'", schema=True)
add_config_case("--configfile typo in a section key",
                lambda c: c["datasets"]["digits"]["similarity"].update(jacard_k=[5]),
                r"^my\.yaml: datasets\.digits\.similarity: .*'jacard_k'", schema=True)
add_config_case("config ε not in the data set's ε (model eps list)",
                lambda c: _models(c)["resnet18"].update(eps=[0, 0.5]),
                r"datasets\.digits\.models\.resnet18\.eps: ε 0\.5 not in datasets\.digits\.eps", schema=False)
add_config_case("sha256 of the wrong length",
                lambda c: _models(c)["resnet18"].update(checkpoint={0: "/x.ckpt"}, sha256={0: "abc123"}),
                r"^my\.yaml: datasets\.digits\.models\.resnet18\.sha256\.0: 'abc123' does not match", schema=True)
add_config_case("repeated ε (0 and 0.0)", lambda c: c["datasets"]["digits"].update(eps=[0, 0.0, 1]),
                r"datasets\.digits\.eps: repeated ε", schema=False)
add_config_case("jaccard k >= n_inputs", lambda c: c["datasets"]["digits"]["similarity"].update(jaccard_k=[5, 40]),
                r"datasets\.digits\.similarity\.jaccard_k: every k must be < n_inputs \(40\)", schema=False)
add_config_case("sha256 for a trained ε",
                lambda c: _models(c)["resnet18"].update(sha256={0: "a" * 64}),
                r"datasets\.digits\.models\.resnet18\.sha256: ε 0 is trained here", schema=False)
add_config_case("checkpoint mapping with an ε the model lacks",
                lambda c: _models(c)["resnet18"].update(checkpoint={3: "/x.ckpt"}),
                r"datasets\.digits\.models\.resnet18\.checkpoint: ε 3 is not an ε of this model", schema=False)
add_config_case("one URL without {eps} for several ε",
                lambda c: _models(c)["resnet18"].update(checkpoint="https://x/r18.ckpt"),
                r"datasets\.digits\.models\.resnet18\.checkpoint: a single URL needs '\{eps\}'", schema=False)
add_config_case("subgroup ε not an ε of the data set",
                lambda c: c["datasets"]["digits"]["subgroups"].update(eps=[3]),
                r"datasets\.digits\.subgroups\.eps: ε 3 is not in datasets\.digits\.eps", schema=False)
add_config_case("ε given as a string", lambda c: c["datasets"]["digits"].update(eps=[0, "0.5"]),
                r"^my\.yaml: datasets\.digits\.eps\.1: '0\.5' is not of type 'number'", schema=True)
add_config_case("Jaccard k written as floats", lambda c: c["datasets"]["digits"]["similarity"].update(jaccard_k=[5.0, 10.0]),
                r"^my\.yaml: datasets\.digits\.similarity\.jaccard_k\.\d: (5|10)\.0 is not of type 'integer' "
                r"\(write (5|10), without the decimal point\)", schema=True, before="unclear: passed the schema, failed hours later")
add_config_case("batch size written as a float", lambda c: c["datasets"]["digits"].update(batch_size=64.0),
                r"^my\.yaml: datasets\.digits\.batch_size: 64\.0 is not of type 'integer' \(write 64", schema=True,
                before="unclear: passed the schema, failed inside a job")
add_config_case("epochs written as a float", lambda c: c["datasets"]["digits"]["training"].update(epochs=1.0),
                r"^my\.yaml: datasets\.digits\.training\.epochs: 1\.0 is not of type 'integer' \(write 1,",
                schema=True, before="unclear: passed the schema, failed inside a job")
add_config_case("sha256 of digits only, read by YAML as a number",
                lambda c: _models(c)["resnet18"].update(sha256={0: int("1" * 64)}),
                r"^my\.yaml: datasets\.digits\.models\.resnet18\.sha256\.0: 1{64} is not of type 'string' \(YAML "
                r"reads a sha256 of digits only as a number: quote it\)", schema=True,
                before="unclear: 'is not of type string' without the reason")
add_config_case("subgroups.min_size below k + 1", lambda c: c["datasets"]["digits"]["subgroups"].update(min_size=5),
                r"datasets\.digits\.subgroups\.min_size: 5 is below subgroups\.k \+ 1 \(11\)", schema=False,
                before="silently wrong: every measure NaN, n_pairs 0, no message")
add_config_case("imagefolder without a path",
                lambda c: c["datasets"]["digits"].update(source="imagefolder"),
                r"^my\.yaml: datasets\.digits: 'path' is a required property", schema=True)


@case("ε 0.00001 in paths", "config", before="silently wrong: '1e-05' in paths, not matched by the rules")
def _(tmp, fx, mp):
    cfg = demo_config()
    cfg["datasets"]["digits"]["eps"] = [0, 0.00001]

    def check(result):
        assert result == ["0", "0.00001"]
        assert re.fullmatch(rc.EPS_PATTERN, result[1])
    return (lambda: rc.dataset_eps(cfg, "digits")), check


# ---- checkpoints ---------------------------------------------------------------------------------
@case("checkpoint of another width than configured", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    return (lambda: jobs.load_model(fx.ckpt_a, SOURCE, st.replace(MODEL_A, width=0.25)),
            rf"checkpoint {esc(fx.ckpt_a)} .*does not fit resnet18 \(10 classes, width 0\.25.*has shape")


@case("checkpoint of another architecture", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    return (lambda: jobs.load_model(fx.ckpt_a, SOURCE, MODEL_B),
            rf"checkpoint {esc(fx.ckpt_a)} .*does not fit vgg16_bn .*missing key")


@case("checkpoint with another number of classes", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    spec = {**fx.spec, "num_classes": 100}
    return (lambda: load_robustness_checkpoint(fx.ckpt_a, **spec),
            rf"checkpoint {esc(fx.ckpt_a)} .*\(100 classes.*has shape \(10, ")


@case("checksum checked at load, not only at download", "checkpoint", CheckpointError,
      before="silently wrong: a file placed by hand was never checked")
def _(tmp, fx, mp):
    return (lambda: jobs.load_model(fx.ckpt_a, SOURCE, MODEL_A, sha256="0" * 64),
            rf"checkpoint {esc(fx.ckpt_a)} has sha256 [0-9a-f]{{64}}, expected 0{{64}}")


def _edited_checkpoint(fx, tmp, edit):
    """fx.ckpt_a as written by save_robustness_checkpoint, one entry of its state dict edited, saved by torch."""
    ckpt = torch.load(fx.ckpt_a, map_location="cpu", weights_only=False)
    edit(ckpt["model"])
    path = tmp / "edited.ckpt"
    torch.save(ckpt, path)
    return path


def _first_weight(state):
    return next(k for k, v in state.items() if k.endswith("conv1.weight") and "attacker" not in k)


@case("checkpoint with inf weights", "checkpoint", CheckpointError,
      before="silently wrong: evaluated to accuracy 0.04 without a word")
def _(tmp, fx, mp):
    def inf(state):
        state[_first_weight(state)][0, 0, 0, 0] = float("inf")
    path = _edited_checkpoint(fx, tmp, inf)
    out = tmp / "eval.json"
    return (lambda: jobs.evaluate(path, SOURCE, MODEL_A, st.EvaluationSettings(attack_steps=1, max_images=20),
                                  dataset="digits", model_name="a", eps=0, out=out, device="cpu"),
            rf"^checkpoint {esc(path)}: '.*conv1\.weight' holds 1 NaN or inf value\(s\)")


@case("checkpoint with NaN weights names the checkpoint", "checkpoint", CheckpointError,
      before="unclear: failed one job later naming the derived HDF5 file")
def _(tmp, fx, mp):
    def nan(state):
        state[_first_weight(state)][:2] = float("nan")
    path = _edited_checkpoint(fx, tmp, nan)
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"^checkpoint {esc(path)}: '.*conv1\.weight' holds \d+ NaN")


@case("state dict holding a non-tensor", "checkpoint", CheckpointError, before="unclear: bare AttributeError")
def _(tmp, fx, mp):
    def text(state):
        state[_first_weight(state)] = "weights"
    path = _edited_checkpoint(fx, tmp, text)
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A),
            rf"^checkpoint {esc(path)}: '.*conv1\.weight' holds a str, not a tensor")


@case("normaliser std of 0 stored in a checkpoint", "checkpoint", CheckpointError,
      before="unclear: inf activations reported on a derived file")
def _(tmp, fx, mp):
    def zero_std(state):
        key = next(k for k in state if k.endswith("normalizer.new_std"))
        state[key] = torch.zeros_like(state[key])
    path = _edited_checkpoint(fx, tmp, zero_std)
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"^checkpoint {esc(path)}: the normaliser's std")


@case("checkpoint whose logits overflow to inf", "checkpoint", ValueError,
      before="unclear: failed one job later naming the derived HDF5 file")
def _(tmp, fx, mp):
    def huge(state):
        key = next(k for k in state if k.endswith("linear.weight") and "attacker" not in k)
        state[key] = state[key] * 3e38
    path = _edited_checkpoint(fx, tmp, huge)
    out = tmp / "act.h5"

    def thunk():
        jobs.extract_activations(path, fx.inputs, SOURCE, MODEL_A, DS, dataset="digits", model_name="a", eps=0,
                                 input_set="regular", out=out, device="cpu")
        assert False, "no error"
    return thunk, rf"^checkpoint {esc(path)}: its logits of inputs 0-15 hold NaN or inf .*nothing was written"


@case("sha256 argument of the wrong length", "checkpoint", ValueError)
def _(tmp, fx, mp):
    return (lambda: jobs.load_model(fx.ckpt_a, SOURCE, MODEL_A, sha256="abc"),
            rf"sha256 configured for {esc(fx.ckpt_a)} is not 64 hex digits")


@case("random bytes as checkpoint", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    path = tmp / "random.ckpt"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"checkpoint {esc(path)} is unreadable or corrupt")


@case("truncated checkpoint", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    path = truncated(fx.ckpt_a, tmp / "cut.ckpt")
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"checkpoint {esc(path)} is unreadable or corrupt")


@case("bare state dict instead of a robustness checkpoint", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    path = tmp / "state.pt"
    torch.save(create_model(**fx.spec).net.state_dict(), path)
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"checkpoint {esc(path)} has no 'model' state dict")


class Payload:  # a pickled object: loading it would run arbitrary code
    def __reduce__(self):
        return (os.system, ("true",))


@case("checkpoint holding a pickled object (code)", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    path = tmp / "evil.ckpt"
    torch.save({"model": {"x": torch.zeros(1)}, "extra": Payload()}, path)
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"checkpoint {esc(path)} is unreadable")


@case("missing checkpoint", "checkpoint", CheckpointError)
def _(tmp, fx, mp):
    path = tmp / "nope.ckpt"
    return (lambda: jobs.load_model(path, SOURCE, MODEL_A), rf"checkpoint {esc(path)} does not exist")


@case("plain file path given as checkpoint URL", "checkpoint", before="unclear: 'unknown url type'")
def _(tmp, fx, mp):
    dest = tmp / "resources" / "a.ckpt"

    def check(result):
        assert result == dest and dest.read_bytes() == fx.ckpt_a.read_bytes()
        assert not list(dest.parent.glob(".*"))  # no temporary left
    return (lambda: download(str(fx.ckpt_a), dest)), check


@case("file:// URL given as checkpoint URL", "checkpoint")
def _(tmp, fx, mp):
    dest = tmp / "a.ckpt"
    return (lambda: download(fx.ckpt_a.as_uri(), dest)), lambda r: r.read_bytes() == fx.ckpt_a.read_bytes()


@case("local checkpoint path that does not exist", "checkpoint", DownloadError)
def _(tmp, fx, mp):
    missing = tmp / "missing.ckpt"
    return (lambda: download(str(missing), tmp / "out.ckpt")), rf"download of {esc(missing)} failed"


# ---- faults: full disk -----------------------------------------------------------------------------
def _full_disk_case(error):
    def build(tmp, fx, mp):
        def save(obj, f, *args, **kwargs):
            Path(f).write_bytes(b"PK\x03\x04 partial")
            raise error

        mp.setattr(torch, "save", save)
        path = tmp / "models" / "m.ckpt"

        def thunk():
            try:
                atomic_save({"model": {}}, path)
            finally:
                assert not path.exists() and not list(path.parent.iterdir())  # nothing half-written left
        return thunk, rf"cannot write checkpoint {esc(path)}.*disk may be full"
    return build


CASES.append(Case("full disk: torch.save 'unexpected pos'", "faults", "unclear: 'unexpected pos 128 vs 64'",
                  _full_disk_case(RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter "
                                               "failed writing file data/3: file write failed; unexpected pos "
                                               "33216 vs 33152")), CheckpointError))
CASES.append(Case("full disk: OSError ENOSPC", "faults", "unclear: names the temporary",
                  _full_disk_case(OSError(errno.ENOSPC, "No space left on device")), CheckpointError))


@case("atomic writes get the umask's mode", "faults", before="silently wrong: 0600 files")
def _(tmp, fx, mp):
    def thunk():
        modes = []
        for mask in (0o022, 0o002):
            old = os.umask(mask)
            try:
                with atomic_path(tmp / f"out{mask}.csv") as t:
                    t.write_text("x")
            finally:
                os.umask(old)
            modes.append((tmp / f"out{mask}.csv").stat().st_mode & 0o777)
        return modes
    return thunk, lambda modes: modes == [0o644, 0o664] or pytest.fail(f"modes {modes}")


@case("stale temporaries of a killed writer are removed", "faults")
def _(tmp, fx, mp):
    stale = tmp / ".out.h5.abc123.tmp"
    stale.write_bytes(b"half")
    other = tmp / ".other.h5.abc123.tmp"  # another file's temporary: not ours to delete
    other.write_bytes(b"busy")

    def thunk():
        with atomic_path(tmp / "out.h5") as t:
            t.write_text("done")
        return sorted(p.name for p in tmp.iterdir())
    return thunk, lambda names: names == [".other.h5.abc123.tmp", "out.h5"] or pytest.fail(str(names))


# ---- training resume ---------------------------------------------------------------------------------
def _digits_subset(n=128):
    x, y = load_split("sklearn_digits", "train").tensors
    return torch.utils.data.TensorDataset(x[:n], y[:n])


def _resume_case(same_identity: bool):
    def build(tmp, fx, mp):
        settings = TrainSettings(epochs=2, batch_size=64, lr_step=1, eps=0.0, seed=0)
        identity = {"spec": fx.spec, "source": SOURCE}
        other = {"spec": fx.spec, "source": {"source": "cifar10", "path": "/data"}}
        resume = tmp / "resume.ckpt"
        seed_everything(0)
        net = create_model(**fx.spec)
        opt = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
        save_robustness_checkpoint(resume, net, optimizer=opt, schedule=sched, epoch=1,
                                   meta={"train_fingerprint": run_fingerprint(settings, identity), "history": "[]"})

        def thunk():
            seed_everything(0)
            summary = train_model(create_model(**fx.spec), _digits_subset(), settings,
                                  checkpoint_path=tmp / "final.ckpt", resume_path=resume,
                                  identity=identity if same_identity else other)
            return summary, resume.exists()

        def check(result):
            summary, left = result
            assert summary["resumed_from_epoch"] == (1 if same_identity else 0)
            assert not left  # the resume file is removed once the final checkpoint is written
        return thunk, check
    return build


CASES.append(Case("resume file of another data set is ignored", "checkpoint",
                  "silently wrong: resumed another model's weights", _resume_case(False)))
CASES.append(Case("resume file of the same run is used, then removed", "checkpoint", "", _resume_case(True)))


@case("corrupt resume file: training starts afresh", "checkpoint")
def _(tmp, fx, mp):
    resume = truncated(fx.ckpt_a, tmp / "resume.ckpt")
    settings = TrainSettings(epochs=1, batch_size=64, lr_step=1, eps=0.0, seed=0)

    def thunk():
        return train_model(create_model(**fx.spec), _digits_subset(64), settings, checkpoint_path=tmp / "f.ckpt",
                           resume_path=resume)
    return thunk, lambda s: s["resumed_from_epoch"] == 0 or pytest.fail(str(s))


# ---- data --------------------------------------------------------------------------------------------
def _cifar_dir(tmp):
    base = tmp / "cifar-10-batches-py"
    base.mkdir()
    return base


@case("random bytes as CIFAR batch", "data", DataError, before="unclear: UnpicklingError without a path")
def _(tmp, fx, mp):
    batch = _cifar_dir(tmp) / "test_batch"
    batch.write_bytes(np.random.default_rng(1).bytes(4096))
    return (lambda: load_split("cifar10", "eval", {"path": str(tmp)})), rf"cannot read CIFAR-10 batch {esc(batch)}"


@case("unsafe pickle as CIFAR batch", "data", DataError, before="silently wrong: ran the file's code")
def _(tmp, fx, mp):
    batch = _cifar_dir(tmp) / "test_batch"
    marker = tmp / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    batch.write_bytes(pickle.dumps({"data": Evil()}, protocol=2))

    def thunk():
        try:
            load_split("cifar10", "eval", {"path": str(tmp)})
        finally:
            assert not marker.exists()
    return thunk, rf"{esc(batch)}: UnpicklingError: global '(posix|os|nt)\.system' is not allowed"


@case("CIFAR labels as non-integral floats", "data", DataError, before="silently wrong: 1.7 truncated to class 1")
def _(tmp, fx, mp):
    batch = _cifar_dir(tmp) / "test_batch"
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [1.7, 2.0]}, protocol=2))
    return ((lambda: load_split("cifar10", "eval", {"path": str(tmp)})),
            rf"{esc(batch)}: labels are not integers \(e\.g\. \[1\.7\]\)")


@case("CIFAR labels as booleans", "data", DataError, before="silently wrong: True read as class 1")
def _(tmp, fx, mp):
    batch = _cifar_dir(tmp) / "test_batch"
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [True, False]}, protocol=2))
    return (lambda: load_split("cifar10", "eval", {"path": str(tmp)})), rf"{esc(batch)}: labels are not integers"


@case("CIFAR labels outside 0..9", "data", DataError)
def _(tmp, fx, mp):
    batch = _cifar_dir(tmp) / "test_batch"
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, protocol=2))
    return (lambda: load_split("cifar10", "eval", {"path": str(tmp)})), rf"{esc(batch)}: labels outside 0\.\.9"


@case("CIFAR test batch missing", "data", DataError)
def _(tmp, fx, mp):
    base = _cifar_dir(tmp)
    return (lambda: load_split("cifar10", "eval", {"path": str(tmp)})), rf"missing under {esc(base)}: .*test_batch"


@case("CIFAR-10 download: true without network", "data", DataError, before="unclear: torchvision's bare URLError")
def _(tmp, fx, mp):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    mp.setattr(urllib.request, "urlopen", offline)  # what torchvision's download calls
    return ((lambda: load_split("cifar10", "eval", {"path": str(tmp), "download": True})),
            rf"^CIFAR-10 could not be downloaded into {esc(tmp)} .*name resolution.*place the python version's "
            rf"files .* in {esc(tmp / 'cifar-10-batches-py')}")


def _jpeg(path: Path, value: int):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 12, 3), value, np.uint8)).save(path, "JPEG")


def _tree(tmp, train=("a", "b", "c"), val=("a", "b", "c")):
    for split, classes in (("train", train), ("val", val)):
        for i, c in enumerate(classes):
            _jpeg(tmp / split / c / f"{c}0.jpg", 40 * i)
    return {"path": str(tmp), "image_size": 8, "resize_size": 8}


@case("image folder: val lacks a class, labels still follow train", "data",
      before="silently wrong: classes numbered per split")
def _(tmp, fx, mp):
    settings = _tree(tmp, val=("a", "c"))

    def thunk():
        ds = load_split("imagefolder", "eval", settings)
        return [(Path(p).parent.name, y) for p, y in ds.samples]
    return thunk, lambda s: s == [("a", 0), ("c", 2)] or pytest.fail(str(s))


@case("image folder: empty class folder", "data", DataError)
def _(tmp, fx, mp):
    settings = _tree(tmp)
    shutil.rmtree(tmp / "val" / "b")
    (tmp / "val" / "b").mkdir()
    return (lambda: load_split("imagefolder", "eval", settings)), rf"{esc(tmp / 'val')}: .*\bb\b"


@case("image folder: missing val split", "data", DataError)
def _(tmp, fx, mp):
    settings = _tree(tmp)
    shutil.rmtree(tmp / "val")
    return (lambda: load_split("imagefolder", "eval", settings)), rf"image folder {esc(tmp / 'val')} does not exist"


@case("image folder: val has a class train lacks", "data", DataError)
def _(tmp, fx, mp):
    settings = _tree(tmp, val=("a", "b", "zebra"))
    return (lambda: load_split("imagefolder", "eval", settings)), rf"{esc(tmp / 'val')}: class folders not in .*zebra"


@case("image folder: class list file missing", "data", DataError)
def _(tmp, fx, mp):
    settings = {**_tree(tmp), "classes": str(tmp / "classes.txt")}
    return (lambda: load_split("imagefolder", "train", settings)), rf"class list file {esc(tmp / 'classes.txt')}"


@case("image folder: num_classes disagrees with the folders", "data", DataError)
def _(tmp, fx, mp):
    settings = {**_tree(tmp), "num_classes": 100}
    return (lambda: load_split("imagefolder", "train", settings)), rf"num_classes: 100 does not match the 3 classes"


@case("image folder: truncated JPEG", "data", DataError, before="unclear: 'image file is truncated' without a path")
def _(tmp, fx, mp):
    settings = _tree(tmp)
    bad = tmp / "val" / "b" / "b0.jpg"
    truncated(bad, bad, keep=0.6)

    def thunk():
        ds = load_split("imagefolder", "eval", settings)
        return [ds[i] for i in range(len(ds))]
    return thunk, rf"image {esc(bad)}"


@case("image folder: 16-bit grayscale PNG", "data", before="silently wrong: PIL clipped it to white")
def _(tmp, fx, mp):
    from PIL import Image

    settings = _tree(tmp)
    path = tmp / "val" / "b" / "b1.png"
    Image.fromarray(np.full((12, 12), 51400, np.uint16)).save(path)  # PIL writes a 16-bit PNG (mode I;16)

    def thunk():
        ds = load_split("imagefolder", "eval", settings)
        return ds[[p for p, _ in ds.samples].index(str(path))][0]
    return thunk, lambda x: bool(torch.allclose(x, torch.full_like(x, 200 / 255))) or pytest.fail(str(x))  # 51400/257


@case("image folder: 32-bit float TIFF", "data", DataError, before="silently wrong: PIL turned it black")
def _(tmp, fx, mp):
    from PIL import Image

    settings = _tree(tmp)
    path = tmp / "val" / "b" / "b1.tif"
    Image.fromarray(np.full((12, 12), 0.5, np.float32)).save(path)

    def thunk():
        ds = load_split("imagefolder", "eval", settings)
        return [ds[i] for i in range(len(ds))]
    return thunk, rf"image {esc(path)}: 32-bit floating-point pixels \(mode F\) have no known range"


@case("image folder: symbolic-link loop", "data", DataError,
      before="silently wrong: the class's images counted 41 times")
def _(tmp, fx, mp):
    settings = _tree(tmp)
    (tmp / "train" / "a" / "loop").symlink_to("..")
    return ((lambda: load_split("imagefolder", "train", settings)),
            rf"^{esc(tmp / 'train' / 'a' / 'loop' / 'a')}: the same folder as {esc(tmp / 'train' / 'a')} "
            r"\(a symbolic-link loop")


@case("image folder: broken symbolic link", "data", DataError,
      before="unclear: failed only when that image was read, maybe hours later")
def _(tmp, fx, mp):
    settings = _tree(tmp)
    link = tmp / "val" / "c" / "gone.jpg"
    link.symlink_to(tmp / "elsewhere.jpg")
    return (lambda: load_split("imagefolder", "eval", settings)), rf"^{esc(link)}: a symbolic link to nothing"


@case("n_inputs larger than the input pool", "data", ValueError)
def _(tmp, fx, mp):
    return (lambda: jobs.prepare_inputs(SOURCE, st.DatasetSettings(n_inputs=5000), "digits", tmp / "inputs.h5"),
            r"datasets\.digits: n_inputs = 5000 exceeds the 359 images .*input_pool: eval")


# ---- HDF5 ------------------------------------------------------------------------------------------------
@case("truncated inputs.h5", "hdf5", H5Error, before="unclear: h5py error without the file")
def _(tmp, fx, mp):
    path = truncated(fx.inputs, tmp / "inputs.h5")
    return (lambda: read_inputs(path)), rf"^{esc(path)}: not a readable HDF5 file.*rerun the job"


@case("truncated activations", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = truncated(fx.act["a"], tmp / "act.h5")
    return (lambda: read_activations(path)), rf"^{esc(path)}: not a readable HDF5 file"


@case("truncated kNN graph", "hdf5", H5Error, before="unclear")
def _(tmp, fx, mp):
    path = truncated(fx.knn, tmp / "knn.h5")
    return (lambda: read_knn(path)), rf"^{esc(path)}: not a readable HDF5 file"


@case("truncated inverted images", "hdf5", H5Error, before="unclear")
def _(tmp, fx, mp):
    path = truncated(fx.inverted, tmp / "inv.h5")
    out = tmp / "act.h5"

    def thunk():
        jobs.extract_activations(fx.ckpt_b, fx.inputs, SOURCE, MODEL_B, DS, dataset="digits", model_name="b",
                                 eps=0, input_set="inverted-a", out=out, images=path, device="cpu")
    return thunk, rf"^{esc(path)}: not a readable HDF5 file"


@case("inverted images of another input set (fewer images)", "hdf5", ValueError)
def _(tmp, fx, mp):
    path = _replaced(fx.inverted, tmp / "inv.h5", "images", lambda images: images[:10])
    out = tmp / "act.h5"

    def thunk():
        jobs.extract_activations(fx.ckpt_b, fx.inputs, SOURCE, MODEL_B, DS, dataset="digits", model_name="b",
                                 eps=0, input_set="inverted-a", out=out, images=path, device="cpu")
    return thunk, rf"{esc(path)}: dataset 'loss' has 40 rows, expected 10"


@case("NaN in activations", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = copied(fx.act["a"], tmp / "act.h5")
    with h5py.File(path, "r+") as fh:
        fh["representations"][3, 0] = np.nan
    return (lambda: read_activations(path)), rf"^{esc(path)}: 'representations' holds NaN or inf in 1 row"


@case("inf in logits", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = copied(fx.act["a"], tmp / "act.h5")
    with h5py.File(path, "r+") as fh:
        fh["logits"][0, 0] = np.inf
    return (lambda: read_activations(path)), rf"^{esc(path)}: 'logits' holds NaN or inf"


@case("activations missing 'logits'", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = copied(fx.act["a"], tmp / "act.h5")
    with h5py.File(path, "r+") as fh:
        del fh["logits"]
    return (lambda: read_activations(path)), rf"^{esc(path)}: dataset 'logits' is missing"


@case("a CSV given as activations", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = tmp / "act.h5"
    path.write_text("a,b\n1,2\n")
    return (lambda: read_activations(path)), rf"^{esc(path)}: not a readable HDF5 file"


@case("kNN graph of floats", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = copied(fx.knn, tmp / "knn.h5")
    with h5py.File(path, "r+") as fh:
        graph = fh["knn"][()].astype(np.float64)
        del fh["knn"]
        fh["knn"] = graph
    return (lambda: read_knn(path)), rf"^{esc(path)}: 'knn' holds float64"


@case("inputs.h5 missing 'seed_index'", "hdf5", H5Error)
def _(tmp, fx, mp):
    path = copied(fx.inputs, tmp / "inputs.h5")
    with h5py.File(path, "r+") as fh:
        del fh["seed_index"]
    return (lambda: read_inputs(path)), rf"^{esc(path)}: dataset 'seed_index' is missing"


def _shifted_activations(fx, tmp):
    path = copied(fx.act["b"], tmp / "act_b.h5")
    with h5py.File(path, "r+") as fh:
        fh["index"][0] = fh["index"][0] + 1
    return path


@case("mismatched input indices between two activation files", "hdf5", ValueError)
def _(tmp, fx, mp):
    path = _shifted_activations(fx, tmp)
    settings = st.SimilaritySettings(jaccard_k=(5,), rtd_trials=1, rtd_batch=10, rtd_seed=0, rtd=False)

    def thunk():
        return jobs.compare_models(fx.act["a"], path, fx.knn, fx.knn, settings, inputs="regular", dataset="digits",
                                   eps=0, model_a="a", model_b="b", out=tmp / "pair.csv", device="cpu")
    return thunk, rf"^{esc(path)}: its inputs differ from {esc(fx.act['a'])}'s"


def _rewritten(fx, tmp, name, values):
    return _replaced(fx.act["a"], tmp / "act.h5", name, lambda _: values)


@case("labels read back as floats with NaN", "hdf5", H5Error, before="silently wrong: passed")
def _(tmp, fx, mp):
    labels = np.arange(40, dtype=np.float64) % 10
    labels[3] = np.nan
    path = _rewritten(fx, tmp, "labels", labels)
    return (lambda: read_activations(path)), rf"^{esc(path)}: 'labels' holds float64, expected integers"


@case("representations stored as strings", "hdf5", H5Error, before="unclear: numpy error without the file")
def _(tmp, fx, mp):
    path = _rewritten(fx, tmp, "representations", np.full((40, 3), "0.5", dtype="S3"))
    return (lambda: read_activations(path)), rf"^{esc(path)}: 'representations' holds \|S3, expected numbers"


def _compare(fx, tmp, knn_b, summaries=(None, None)):
    settings = st.SimilaritySettings(jaccard_k=(5,), rtd_trials=1, rtd_batch=10, rtd_seed=0, rtd=False)
    return lambda: jobs.compare_models(fx.act["a"], fx.act["b"], fx.knn, knn_b, settings, inputs="regular",
                                       dataset="digits", eps=0, model_a="a", model_b="b", out=tmp / "pair.csv",
                                       device="cpu", summary_a=summaries[0], summary_b=summaries[1])


@case("kNN graph of another model given as model B's", "hdf5", H5Error,
      before="silently wrong: Jaccard 1.0 (model A's graph against itself)")
def _(tmp, fx, mp):
    return _compare(fx, tmp, fx.knn), (rf"^{esc(fx.knn)}: this kNN graph was made from other activations than "
                                       rf"{esc(fx.act['b'])}")


@case("kNN graph of a smaller k than the comparison needs", "hdf5", H5Error,
      before="unclear: 'every k must be in 1..5' without the file")
def _(tmp, fx, mp):
    knn_b = tmp / "knn_b.h5"
    jobs.build_knn_graph(fx.act["b"], 3, knn_b, device="cpu")
    return _compare(fx, tmp, knn_b), rf"^{esc(knn_b)}: a kNN graph of k=3, the comparison needs k up to 5"


@case("kNN graph of another number of inputs", "hdf5", H5Error, before="unclear: shape error without the file")
def _(tmp, fx, mp):
    knn_b = _replaced(fx.knn, tmp / "knn_b.h5", "knn", lambda graph: graph[:30])
    with h5py.File(knn_b, "r+") as fh:
        del fh.attrs["activations_sha256"]  # as an older file (no record of its activations)
    return _compare(fx, tmp, knn_b), rf"^{esc(knn_b)}: a kNN graph of 30 inputs, the activations have 40"


@case("summary of another model given as model B's", "hdf5", H5Error, before="new file (per-model steps)")
def _(tmp, fx, mp):
    knn_b, summary_a = tmp / "knn_b.h5", tmp / "summary_a.h5"
    jobs.build_knn_graph(fx.act["b"], 5, knn_b, device="cpu")
    jobs.summarise_representations(fx.act["a"], st.SimilaritySettings(rtd=False), summary_a, device="cpu")
    return _compare(fx, tmp, knn_b, (summary_a, summary_a)), (
        rf"^{esc(summary_a)}: this summary was made from other activations than {esc(fx.act['b'])}")


@case("checkpoint replaced after the model's inversion", "checkpoint", H5Error,
      before="silently wrong: --rerun-triggers mtime planned nothing; checkpoint_sha256 was never compared")
def _(tmp, fx, mp):
    out, replaced = tmp / "act.h5", tmp / "a.ckpt"
    seed_everything(1)  # the same architecture, other weights: a retrained model put in place of the old file
    save_robustness_checkpoint(replaced, create_model(**fx.spec), epoch=1)

    def thunk():
        jobs.extract_activations(replaced, fx.inputs, SOURCE, MODEL_A, DS, dataset="digits", model_name="a",
                                 eps=0, input_set="inverted-a", out=out, images=fx.inverted, device="cpu")
    return thunk, rf"^checkpoint {esc(replaced)} \(sha256 [0-9a-f]{{12}}…\) is not the one a's inverted images"


@case("checkpoint replaced by an older-dated file after its activations and evaluation", "checkpoint",
      ReplacedCheckpointError, before="silently wrong: Snakemake planned nothing (the new file is not newer)")
def _(tmp, fx, mp):
    past = os.stat(fx.ckpt_a).st_mtime - 3600
    act, evaluation = copied(fx.act["a"], tmp / "regular.h5"), tmp / "a.json"
    evaluation.write_text('{"checkpoint_sha256": "%s"}' % jobs._checkpoint_sha256(fx.ckpt_a, None))
    for path in (act, evaluation):
        os.utime(path, (past, past))
    replaced = tmp / "a.ckpt"
    seed_everything(1)  # a retrained model copied in with its old date (cp -p, rsync -a)
    save_robustness_checkpoint(replaced, create_model(**fx.spec), epoch=1)
    os.utime(replaced, (past - 60, past - 60))
    made_from = [(replaced, [act, evaluation])]
    return (lambda: check_checkpoints(made_from, [], DigestCache())), (
        rf"^{esc(replaced)} was replaced after {esc(act)} and 1 more were made from it .*touch {esc(replaced)}")


@case("inverted images from another seed set with the same N", "hdf5", H5Error,
      before="silently wrong: only the number of images was checked")
def _(tmp, fx, mp):
    path = copied(fx.inverted, tmp / "inv.h5")
    with h5py.File(path, "r+") as fh:
        fh["seed_index"][3] = fh["seed_index"][3] + 1
    out = tmp / "act.h5"

    def thunk():
        jobs.extract_activations(fx.ckpt_b, fx.inputs, SOURCE, MODEL_B, DS, dataset="digits", model_name="b",
                                 eps=0, input_set="inverted-a", out=out, images=path, device="cpu")
    return thunk, rf"^{esc(path)}: its seed_index differs from the comparison inputs' rows \[0, 40\)"


def _pair_tables(fx, tmp, edit):
    """Two pair tables written by compare_models (a and b, b and a), the second edited as text; the thunk
    aggregates them as similarity_tables does."""
    settings = st.SimilaritySettings(jaccard_k=(5,), rtd=False)
    files = []
    for i, (x, y) in enumerate((("a", "b"), ("b", "a"))):
        files.append(tmp / f"pair{i}.csv")
        knn = {}
        for name in (x, y):
            knn[name] = tmp / f"knn_{name}.h5"
            if not knn[name].exists():
                jobs.build_knn_graph(fx.act[name], 5, knn[name], device="cpu")
        jobs.compare_models(fx.act[x], fx.act[y], knn[x], knn[y], settings, inputs="regular", dataset="digits",
                            eps=0, model_a=x, model_b=y, out=files[-1], device="cpu")
    files[1].write_text(edit(files[1].read_text()))
    out = {"similarity_out": tmp / "similarity.csv", "spearman_out": tmp / "spearman.csv"}
    return files[1], lambda: jobs.similarity_tables(files, st.SpearmanSettings(n_resamples=99), **out)


@case("pair table with a row pasted twice", "tables", TableError,
      before="silently wrong: the row was counted twice (Spearman n = 3)")
def _(tmp, fx, mp):
    def twice(text):
        lines = text.splitlines()
        return "\n".join(lines + [lines[1]]) + "\n"
    path, thunk = _pair_tables(fx, tmp, twice)
    return thunk, rf"^{esc(path)}: 2 rows repeat the same dataset/eps/inputs/source/model_a/model_b/measure"


@case("pair table with a renamed column", "tables", TableError, before="silently wrong: the column became NaN")
def _(tmp, fx, mp):
    path, thunk = _pair_tables(fx, tmp, lambda text: text.replace(",value", ",score", 1))
    return thunk, rf"^{esc(path)}: column\(s\) value missing \(it has .*score"


@case("pair table with 'n/a' as a value", "tables", TableError, before="unclear: bare TypeError")
def _(tmp, fx, mp):
    def na(text):
        lines = text.splitlines()
        lines[2] = lines[2].rsplit(",", 1)[0] + ",n/a"
        return "\n".join(lines) + "\n"
    path, thunk = _pair_tables(fx, tmp, na)
    return thunk, rf"^{esc(path)}: column 'value', line 3: 'n/a' is not a number"


@case("subgroup comparison of mismatched inputs names the files", "hdf5", ValueError,
      before="unclear: 'act_b: its inputs differ from act_a's'")
def _(tmp, fx, mp):
    path = _shifted_activations(fx, tmp)

    def thunk():  # as scripts/compare_subgroups.py calls it
        return jobs.compare_subgroups(fx.act["a"], path, st.SubgroupSettings(min_size=4, k=3),
                                      st.SimilaritySettings(rtd_trials=1, rtd_batch=5, rtd_seed=0), dataset="digits",
                                      eps=0, model_a="a", model_b="b", out=tmp / "sub.csv")
    return thunk, rf"^{esc(path)}: its inputs differ from {esc(fx.act['a'])}'s"


@case("activation file given as a probe file", "hdf5", H5Error, before="unclear: numpy AxisError in probe_table")
def _(tmp, fx, mp):
    from robuniv.h5io import read_probes

    return (lambda: read_probes([fx.probe["a"], fx.act["b"]])), rf"^{esc(fx.act['b'])}: not a probe file"


@case("probe files of two ε in one data set", "hdf5", H5Error, before="silently wrong: first file's ε used")
def _(tmp, fx, mp):
    from robuniv.h5io import read_probes

    path = copied(fx.probe["b"], tmp / "probe_b.h5")
    with h5py.File(path, "r+") as fh:
        fh.attrs["eps"] = 3.0
    return (lambda: read_probes([fx.probe["a"], path])), rf"^{esc(path)}: probes at ε 3, but {esc(fx.probe['a'])}"


@case("probe files on different inputs", "hdf5", H5Error, before="unclear: numpy broadcast error")
def _(tmp, fx, mp):
    from robuniv.h5io import read_probes

    path = copied(fx.probe["b"], tmp / "probe_b.h5")
    with h5py.File(path, "r+") as fh:
        logits, index = fh["logits"][:, :30], fh["index"][:30]
        del fh["logits"], fh["index"]
        fh["logits"], fh["index"] = logits, index
    return (lambda: read_probes([fx.probe["a"], path])), rf"^{esc(path)}: .*inputs differ from {esc(fx.probe['a'])}"


# ---- library numerics ----------------------------------------------------------------------------------
def _reps(seed=0, n=30, d=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d))


@case("cka at 1e200 and 1e-8 scales", "library", before="silently wrong: nan / 0")
def _(tmp, fx, mp):
    from robuniv.similarity import cka

    a, b = _reps(0), _reps(1)

    def thunk():
        return cka(a, b), cka(a * 1e200, b * 1e200), cka(a * 1e-8, b), cka(a.astype(np.float32) * 1e-8, b)
    return thunk, lambda r: np.allclose(r[1:], r[0], rtol=1e-5, atol=0) or pytest.fail(str(r))


@case("jaccard_curve with float neighbour indices", "library", ValueError, before="silently wrong")
def _(tmp, fx, mp):
    from robuniv.similarity import jaccard_curve, knn_graph

    g = knn_graph(_reps(0), 5)
    return (lambda: jaccard_curve(g.astype(float), g, [5])), r"graph_a must hold integer neighbour indices"


@case("jaccard_curve with out-of-range neighbour indices", "library", ValueError, before="silently wrong")
def _(tmp, fx, mp):
    from robuniv.similarity import jaccard_curve, knn_graph

    g = knn_graph(_reps(0), 5)
    bad = g.copy()
    bad[2, 1] = 30
    return (lambda: jaccard_curve(g, bad, [5])), r"graph_b has neighbour indices outside \[0, 30\) \(first in row 2\)"


@case("jaccard k >= number of inputs", "library", ValueError)
def _(tmp, fx, mp):
    from robuniv.similarity import jaccard

    return (lambda: jaccard(_reps(0), _reps(1), k=30)), r"k must be smaller than the number of inputs \(k=30, N=30\)"


@case("create_model with std = 0", "library", ValueError, before="silently wrong: inf/nan outputs")
def _(tmp, fx, mp):
    return (lambda: create_model("resnet18", 10, variant="cifar", width=0.125, std=(0.2, 0.0, 0.2))), r"\bstd\b"


@case("pgd_l2 with eps = nan", "library", ValueError, before="silently wrong: nan images")
def _(tmp, fx, mp):
    from robuniv.attacks import pgd_l2

    net = create_model(**fx.spec)
    x, y = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    return (lambda: pgd_l2(net, x, y, eps=float("nan"), step_size=0.1, steps=1)), r"eps must be a finite number"


@case("constant representation", "library", ValueError)
def _(tmp, fx, mp):
    from robuniv.similarity import cka

    return (lambda: cka(np.ones((10, 4)), _reps(0, n=10, d=4))), r"reps_a is constant"


@case("NaN in representations given to a measure", "library", ValueError)
def _(tmp, fx, mp):
    from robuniv.similarity import procrustes_sim

    a = _reps(0)
    a[1, 1] = np.nan
    return (lambda: procrustes_sim(_reps(1), a)), r"reps_b contains NaN or inf"


@case("logits with different class counts", "library", ValueError)
def _(tmp, fx, mp):
    from robuniv.similarity import agreement

    return (lambda: agreement(_reps(0, d=10), _reps(0, d=100))), r"different numbers of classes \(10 vs 100\)"


@case("RTD batch larger than N", "library", ValueError, before="unclear: did not say how to call it")
def _(tmp, fx, mp):
    from robuniv.similarity import rtd

    return (lambda: rtd(_reps(0), _reps(1), batch=100)), r"batch=100, N=30\); pass batch=min\(100, N\)"


@case("ε nan or negative in a path", "library", rc.ConfigError)
def _(tmp, fx, mp):
    return (lambda: [rc.format_eps(e) for e in (0.5, float("nan"))]), r"finite number >= 0, got nan"


# ---------------------------------------------------------------- the test
def test_table_has_every_kind():
    kinds = {c.kind for c in CASES}
    assert kinds == {"config", "checkpoint", "data", "hdf5", "tables", "library", "faults"}
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", [pytest.param(c, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
                               for c in CASES], ids=[c.id for c in CASES])
def test_bad_input(c: Case, tmp_path, fx, monkeypatch):
    thunk, expected = c.build(tmp_path, fx, monkeypatch)
    if c.exc is None:
        result = thunk()
        outcome = expected(result)
        assert outcome is None or outcome is True, f"{c.id}: unexpected result {result!r}"
        return
    with pytest.raises(c.exc) as info:
        thunk()
    assert re.search(expected, str(info.value)), f"{c.id}: message {str(info.value)!r} does not match {expected!r}"


def test_configfile_typo_error_names_the_file(tmp_path):
    import subprocess
    import sys

    cfg = demo_config()
    cfg["datasets"]["digits"]["similarity"]["jacard_k"] = [5]
    path = tmp_path / "my-study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(Path(rc.__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(path)], capture_output=True, text=True, env=env, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "jacard_k" in output  # the key is named either way
    assert re.search(rf"{esc(path)}: datasets\.digits\.similarity", output), output[-2000:]
