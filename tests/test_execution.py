"""Settings that only change how fast a job runs (workers, batch sizes of inference, GPUs, where the data
lies) stay out of the jobs' params and resume fingerprints; the jobs read them from the config, and moved
data is recognised by its content."""
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from robuniv import config as rc
from robuniv import jobs
from robuniv import settings as st
from robuniv.data import DataError, check_content, content_digest, open_splits
from test_data import write_cifar_fixture

ROOT = Path(__file__).resolve().parents[1]

EXECUTION = {st.TrainSettings: {"num_workers", "gpus"}, st.EvaluationSettings: {"batch_size"},
             st.DatasetSettings: {"batch_size", "num_workers"}}


def test_execution_fields_are_the_speed_settings_and_stay_out_of_params():
    for cls in (st.TrainSettings, st.EvaluationSettings, st.InversionSettings, st.SimilaritySettings,
                st.SubgroupSettings, st.ProbeSettings, st.DatasetSettings, st.ModelSettings):
        assert set(st.execution_fields(cls)) == EXECUTION.get(cls, set()), cls.__name__
        defaults = cls(arch="resnet18") if cls is st.ModelSettings else cls()
        assert not set(st.as_params(defaults)) & EXECUTION.get(cls, set())
    # precision changes results: it stays a result field everywhere
    assert "precision" in st.as_params(st.TrainSettings()) and "precision" in st.as_params(st.DatasetSettings())
    # the probes' batch size is a training batch size: it changes the probe
    assert "batch_size" in st.as_params(st.ProbeSettings())


def test_resume_fingerprint_ignores_execution_fields_only():
    base = st.TrainSettings()
    assert st.replace(base, num_workers=8, gpus=4).fingerprint() == base.fingerprint()
    assert st.replace(base, precision="bf16").fingerprint() != base.fingerprint()
    assert st.replace(base, batch_size=256).fingerprint() != base.fingerprint()


def test_from_params_takes_execution_fields_from_the_config_object():
    config_side = st.TrainSettings(epochs=3, num_workers=6, gpus=2)
    params = st.as_params(st.TrainSettings(epochs=5))  # what the job was planned with
    job = st.from_params(st.TrainSettings, params, config_side)
    assert (job.epochs, job.num_workers, job.gpus) == (5, 6, 2)
    assert st.from_params(st.TrainSettings, params).num_workers == 0  # no config object: defaults
    with pytest.raises(TypeError, match="TrainSettings"):
        st.from_params(st.TrainSettings, params, st.DatasetSettings())


def _job(config, dataset="digits", model="resnet18", eps="0.5"):
    """A stand-in for the snakemake object of a script, with the params the rules would pass."""
    params = SimpleNamespace(
        model=st.as_params(rc.model_settings(config, dataset, model)),
        dataset=st.as_params(rc.dataset_settings(config, dataset)),
        training=st.as_params(rc.training_settings(config, dataset, model, eps)),
        evaluation=st.as_params(rc.evaluation_settings(config, dataset)),
        source=rc.source_params(config, dataset))
    return SimpleNamespace(params=params, wildcards=SimpleNamespace(dataset=dataset, model=model, eps=eps),
                           config=config)


def test_job_settings_read_execution_fields_and_the_location_from_the_config(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    job = _job(config)
    ds = config["datasets"]["digits"]
    ds.update(batch_size=17, num_workers=3, source="cifar10", path=str(tmp_path))
    ds.setdefault("training", {})["num_workers"] = 5
    ds.setdefault("evaluation", {})["batch_size"] = 9
    settings = rc.JobSettings(job)
    assert settings.dataset_settings().batch_size == 17 and settings.dataset_settings().num_workers == 3
    assert settings.training().num_workers == 5 and settings.evaluation().batch_size == 9
    assert settings.source() == {"source": "cifar10", "path": str(tmp_path)}
    assert settings.training().epochs == rc.training_settings(yaml.safe_load((ROOT / "config.yaml").read_text()),
                                                              "digits", "resnet18", "0.5").epochs


def test_source_params_leave_out_where_the_data_lies():
    config = yaml.safe_load((ROOT / "configs" / "imagenet100.yaml").read_text())
    name = next(iter(config["datasets"]))
    full, params = rc.source_settings(config, name), rc.source_params(config, name)
    assert "path" in full and "path" not in params
    assert {k: v for k, v in full.items() if k != "path"} == params  # classes, image size stay: they are the data


def test_moved_data_keeps_its_digest_and_other_data_is_refused(tmp_path):
    write_cifar_fixture(tmp_path / "old")
    source = {"source": "cifar10", "path": str(tmp_path / "old")}
    summary = tmp_path / "dataset.json"
    jobs.prepare_dataset(source, "c10", summary)
    assert json.loads(summary.read_text())["content_digest"] == content_digest(open_splits(source))

    shutil.copytree(tmp_path / "old", tmp_path / "moved")
    moved = {"source": "cifar10", "path": str(tmp_path / "moved")}
    check_content(moved, summary)  # same content, another place: accepted

    write_cifar_fixture(tmp_path / "other", seed=1)
    other = {"source": "cifar10", "path": str(tmp_path / "other")}
    with pytest.raises(DataError, match=r"the data at path: .*other is not the data .*dataset.json was made from"):
        check_content(other, summary)
    with pytest.raises(DataError, match="other"):
        jobs.prepare_inputs(other, st.DatasetSettings(n_inputs=4), "c10", tmp_path / "inputs.h5", summary=summary)
    assert not (tmp_path / "inputs.h5").exists()


def _rewrite_test_batch(root, change):
    import pickle

    path = root / "cifar-10-batches-py" / "test_batch"
    entry = pickle.loads(path.read_bytes())
    change(entry)
    path.write_bytes(pickle.dumps(entry))


@pytest.mark.parametrize("change", ["label", "first image", "last image"])
def test_digest_sees_a_label_and_the_sampled_images(tmp_path, change):
    write_cifar_fixture(tmp_path)
    source = {"source": "cifar10", "path": str(tmp_path)}
    before = content_digest(open_splits(source))

    def edit(entry):
        if change == "label":
            entry["labels"][2] = (entry["labels"][2] + 1) % 10
        else:
            entry["data"][0 if change == "first image" else -1, 0] ^= 1  # one pixel of one channel

    _rewrite_test_batch(tmp_path, edit)
    assert content_digest(open_splits(source)) != before
