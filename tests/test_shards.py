"""Inversion shards: a model's targets inverted in several jobs equal one job's inversion, and downstream reads
the shards as one set, refusing shards that do not belong together."""
from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from robuniv import jobs
from robuniv import settings as st
from robuniv.checkpoints import save_robustness_checkpoint
from robuniv.h5io import H5Error, InvertedImages, read_activations, read_inputs
from robuniv.models import create_model
from robuniv.training import seed_everything

SOURCE = {"source": "sklearn_digits"}
MODEL = st.ModelSettings(arch="resnet18", width=0.125, seed=0)
DS = st.DatasetSettings(n_inputs=40, batch_size=8)
INVERSION = st.InversionSettings(iterations=4, step_size=0.03125)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Inputs, a checkpoint, one job's inversion of all 40 targets and the same in shards of 16 (16, 16, 8)."""
    root = tmp_path_factory.mktemp("shards")
    inputs, ckpt = root / "inputs.h5", root / "m.ckpt"
    jobs.prepare_inputs(SOURCE, DS, "digits", inputs)
    seed_everything(MODEL.seed)
    save_robustness_checkpoint(ckpt, create_model(**jobs.model_spec(SOURCE, MODEL)), epoch=1)

    def invert(out, rows=None, settings=INVERSION, model_name="m"):
        jobs.invert_images(ckpt, inputs, SOURCE, MODEL, settings, DS, dataset="digits", model_name=model_name,
                           eps=0, out=out, device="cpu", rows=rows)
        return out

    whole = invert(root / "whole.h5")
    shards = [invert(root / f"shard{i}.h5", rows) for i, rows in enumerate(st.InversionSettings(shard_size=16)
                                                                          .shards(40))]
    return {"root": root, "inputs": inputs, "ckpt": ckpt, "whole": whole, "shards": shards, "invert": invert}


def test_shards_split_the_targets_in_order():
    assert st.InversionSettings(shard_size=16).shards(40) == [(0, 16), (16, 32), (32, 40)]
    assert st.InversionSettings(shard_size=40).shards(40) == [(0, 40)]
    assert st.InversionSettings().shards(10_000) == [(i, i + 1000) for i in range(0, 10_000, 1000)]
    with pytest.raises(st.SettingsError, match="shard_size"):
        st.InversionSettings(shard_size=0)


def test_sharded_inversion_equals_one_job_bitwise(made):
    pairs = read_inputs(made["inputs"])
    whole, sharded = InvertedImages(made["whole"], pairs), InvertedImages(made["shards"], pairs)
    assert len(whole) == len(sharded) == 40
    for name in ("images", "loss"):
        a, b = whole.read(0, 40, name), sharded.read(0, 40, name)
        assert a.shape == b.shape and np.array_equal(a, b), name
    assert not np.array_equal(whole.read(0, 40), np.zeros_like(whole.read(0, 40)))
    with h5py.File(made["shards"][1]) as fh:
        assert list(fh.attrs["shard_rows"]) == [16, 32] and fh.attrs["n_targets"] == 40
        assert np.array_equal(fh["seed_index"][()], pairs["seed_index"][16:32])


def test_extraction_reads_the_shards_as_one_set(made):
    """Activations of a model on the sharded inverted images equal those on one job's file, batches spanning
    shard boundaries included (batch 12 against shards of 16)."""
    root, out = made["root"], {}
    for name, images in (("whole", made["whole"]), ("shards", made["shards"])):
        out[name] = root / f"act_{name}.h5"
        jobs.extract_activations(made["ckpt"], made["inputs"], SOURCE, MODEL, st.replace(DS, batch_size=12),
                                 dataset="digits", model_name="m", eps=0, input_set="inverted-m", out=out[name],
                                 images=images, device="cpu")
    a, b = read_activations(out["whole"]), read_activations(out["shards"])
    for name in ("representations", "logits", "labels", "index"):
        assert np.array_equal(a[name], b[name]), name


def _copy(src, dest, **attrs):
    shutil.copy(src, dest)
    with h5py.File(dest, "a") as fh:
        for key, value in attrs.items():
            fh.attrs[key] = value
    return dest


def test_shards_that_do_not_belong_together_are_refused(made, tmp_path):
    pairs, s = read_inputs(made["inputs"]), made["shards"]
    with pytest.raises(H5Error, match=rf"{s[2]}: its rows start at 32, expected 16 \(rows \[16, 32\) are missing"):
        InvertedImages([s[0], s[2]], pairs)
    with pytest.raises(H5Error, match=rf"{s[1]}: its rows start at 16, expected 0 \(rows \[0, 16\) are missing"):
        InvertedImages([s[1], s[0], s[2]])
    with pytest.raises(H5Error, match=rf"{s[0]}: its rows start at 0, expected 16 \(it overlaps rows given before"):
        InvertedImages([s[0], s[0], s[1], s[2]])
    with pytest.raises(H5Error, match="shards hold 32 rows, the comparison inputs 40"):
        InvertedImages(s[:2], pairs)
    other_model = _copy(s[1], tmp_path / "other_model.h5", model="n", checkpoint_sha256="0" * 64)
    with pytest.raises(H5Error, match=rf"{other_model}: not of the same inversion.*model, checkpoint_sha256"):
        InvertedImages([s[0], other_model, s[2]], pairs)
    fewer_steps = _copy(s[2], tmp_path / "fewer_steps.h5", iterations=3)
    with pytest.raises(H5Error, match=rf"{fewer_steps}: not of the same inversion.*iterations"):
        InvertedImages([s[0], s[1], fewer_steps], pairs)


def test_inverted_images_of_other_inputs_are_refused(made, tmp_path):
    """Another seed set with the same N (the silently accepted case of issue 18): the shard's seeds differ."""
    other = tmp_path / "other_seeds.h5"
    shutil.copy(made["whole"], other)
    with h5py.File(other, "a") as fh:
        fh["seed_index"][0] = fh["seed_index"][0] + 1  # one seed of another image
    with pytest.raises(H5Error, match=rf"{other}: its seed_index differs from the comparison inputs"):
        InvertedImages(other, read_inputs(made["inputs"]))
    with pytest.raises(H5Error, match=rf"{other}: its seed_index differs"):
        jobs.extract_activations(made["ckpt"], made["inputs"], SOURCE, MODEL, DS, dataset="digits", model_name="m",
                                 eps=0, input_set="inverted-m", out=tmp_path / "act.h5", images=other, device="cpu")
    assert not (tmp_path / "act.h5").exists()


def test_rows_outside_the_inputs_are_refused(made, tmp_path):
    with pytest.raises(ValueError, match=r"rows \[32, 48\) outside the 40 comparison inputs"):
        made["invert"](tmp_path / "bad.h5", rows=(32, 48))
    assert not (tmp_path / "bad.h5").exists()
