"""Table builders of the workflow's scripts, on small synthetic inputs."""
import itertools
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from robuniv import jobs
from robuniv import settings as st
from robuniv import similarity as S
from robuniv import tables as T
from robuniv.analyses import paired_permutation_test


def activations(seed, n=60, d=6, c=4, index=None, **attrs):
    rng = np.random.default_rng(seed)
    z = np.random.default_rng(0).normal(size=(n, 3))  # shared: the models are related
    reps = z @ rng.normal(size=(3, d)) + 0.5 * rng.normal(size=(n, d))
    return {"representations": reps, "logits": reps[:, :c] + rng.normal(size=(n, c)),
            "labels": np.random.default_rng(1).integers(0, c, n), "index": np.arange(n) if index is None else index,
            "attrs": attrs}


SETTINGS = st.SimilaritySettings(jaccard_k=(5, 10), rtd_trials=1, rtd_batch=20, rtd_seed=0, rtd=True)


# ---------------------------------------------------------------- similarity


def pair_files(tmp_path, a, b, k=10):
    """Activation and kNN files of two models, as the workflow's jobs write them."""
    paths = {}
    for name, act in (("a", a), ("b", b)):
        paths[f"act_{name}"] = tmp_path / f"{name}.h5"
        write_activations(paths[f"act_{name}"], act)
        paths[f"knn_{name}"] = tmp_path / f"{name}_knn.h5"
        with h5py.File(paths[f"knn_{name}"], "w") as fh:
            fh["knn"] = S.knn_graph(act["representations"], k)
    return paths


def test_compare_models_rows_and_values(tmp_path):
    a, b = activations(1), activations(2)
    files = pair_files(tmp_path, a, b)
    frame = pd.DataFrame(jobs.compare_models(**files, settings=SETTINGS, inputs="inverted", dataset="d", eps=0.5,
                                             model_a="m1", model_b="m2", out=tmp_path / "pair.csv", threads=1,
                                             device="cpu"), columns=T.SIMILARITY_COLUMNS)
    assert list(frame.columns) == T.SIMILARITY_COLUMNS
    assert set(frame.source) == {"m1"} and set(frame.eps) == {0.5}
    expected = S.compare_pair(a["logits"], b["logits"], a["representations"], b["representations"], ks=(5, 10),
                              rtd_trials=1, rtd_batch=20, rtd_jobs=1)
    assert dict(zip(frame.measure, frame.value)) == pytest.approx(expected)
    assert pd.read_csv(tmp_path / "pair.csv", keep_default_na=False).equals(frame)
    regular = jobs.compare_models(**files, settings=st.replace(SETTINGS, rtd=False), inputs="regular", dataset="d",
                                  eps=0, model_a="m1", model_b="m2", out=tmp_path / "regular.csv", device="cpu")
    assert {r["source"] for r in regular} == {""} and "rtd" not in {r["measure"] for r in regular}


def test_compare_models_with_per_model_summaries_writes_the_same_table(tmp_path):
    """The summaries (per-model steps, float32 activations as the workflow writes them) change no value."""
    a, b = (activations(seed) for seed in (1, 2))
    for act in (a, b):
        act["representations"] = act["representations"].astype(np.float32)
        act["logits"] = act["logits"].astype(np.float32)
    files = pair_files(tmp_path, a, b)
    plain = jobs.compare_models(**files, settings=SETTINGS, inputs="regular", dataset="d", eps=0, model_a="m1",
                                model_b="m2", out=tmp_path / "plain.csv", threads=1, device="cpu")
    for name in ("a", "b"):
        jobs.summarise_representations(files[f"act_{name}"], SETTINGS, tmp_path / f"summary_{name}.h5", device="cpu")
    with h5py.File(tmp_path / "summary_a.h5") as fh:
        assert fh["rtd_distances"].shape == (1, 20, 20) and fh.attrs["dtype"] == "float32"
    summarised = jobs.compare_models(**files, settings=SETTINGS, inputs="regular", dataset="d", eps=0, model_a="m1",
                                     model_b="m2", out=tmp_path / "summarised.csv", threads=1, device="cpu",
                                     summary_a=tmp_path / "summary_a.h5", summary_b=tmp_path / "summary_b.h5")
    assert summarised == plain
    assert (tmp_path / "summarised.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


def test_per_model_steps_write_what_the_two_steps_write_alone(tmp_path):
    """The workflow's one job per model (one read of the activations) writes the same kNN graph and summary."""
    act = activations(1)
    files = pair_files(tmp_path, act, activations(2))
    jobs.per_model_steps(files["act_a"], 10, SETTINGS, tmp_path / "knn.h5", tmp_path / "summary.h5", device="cpu")
    jobs.build_knn_graph(files["act_a"], 10, tmp_path / "knn_alone.h5", device="cpu")
    jobs.summarise_representations(files["act_a"], SETTINGS, tmp_path / "summary_alone.h5", device="cpu")
    for name in ("knn", "summary"):
        with h5py.File(tmp_path / f"{name}.h5") as together, h5py.File(tmp_path / f"{name}_alone.h5") as alone:
            assert set(together) == set(alone) and set(together.attrs) == set(alone.attrs)
            assert all(np.array_equal(together[key][()], alone[key][()]) for key in together)
            assert all(np.array_equal(together.attrs[key], alone.attrs[key]) for key in together.attrs)


def test_compare_models_rejects_different_inputs(tmp_path):
    files = pair_files(tmp_path, activations(1), activations(2, index=np.arange(1, 61)))
    with pytest.raises(ValueError, match=r"b.h5: its inputs differ from .*a.h5's"):
        jobs.compare_models(**files, settings=SETTINGS, inputs="regular", dataset="d", eps=0, model_a="m1",
                            model_b="m2", out=tmp_path / "pair.csv", device="cpu")
    assert not (tmp_path / "pair.csv").exists()


def test_pair_rows_file_is_the_one_pandas_writes(tmp_path):
    """The comparison jobs write their rows without pandas; the bytes are those of DataFrame.to_csv."""
    from robuniv.pair_rows import similarity_records, write_similarity_csv

    rng = np.random.default_rng(0)
    values = {name: v for name, v in zip(
        ["cka", "cka_debiased", "procrustes_sim", "rtd", "agreement", "jsd_sim", "jaccard@10", "jaccard@50", "svcca",
         "pwcca", "rsa", "gulp"],
        [0.0, -0.0, float("nan"), float("inf"), 1e-300, 5e-324, 1 / 3, 123456789.123456789, 1e16, -2.5e-7,
         *rng.normal(size=2) * 10.0 ** rng.integers(-12, 12, size=2)])}
    for eps, source in ((0.0, ""), (0.25, "m,1"), (8 / 255, 'quote"d')):
        rows = similarity_records(values, dataset="d", eps=eps, inputs="inverted", source=source, model_a="m1",
                                  model_b="m2")
        write_similarity_csv(rows, tmp_path / "ours.csv")
        T.write_csv(T.similarity_rows(values, dataset="d", eps=eps, inputs="inverted", source=source, model_a="m1",
                                      model_b="m2"), tmp_path / "pandas.csv")
        assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_similarity_rows_reject_unknown_measures():
    with pytest.raises(ValueError, match="unknown measure 'foo'"):
        T.similarity_rows({"foo": 1.0}, dataset="d", eps=0, inputs="regular", source="", model_a="a", model_b="b")


def test_similarity_table_sorts_annotates_and_handles_no_pairs(tmp_path):
    paths = []
    for i, eps in enumerate([1.0, 0.0]):
        path = tmp_path / f"{i}.csv"
        T.similarity_rows({"rtd": 0.2 + eps, "cka_debiased": 0.5, "jaccard@10": 0.3}, dataset="d", eps=eps,
                          inputs="regular", source="", model_a="a", model_b="b").to_csv(path, index=False)
        paths.append(path)
    frame = T.similarity_table(T.read_csvs(paths, T.SIMILARITY_COLUMNS, keep_default_na=False))
    assert list(frame.columns) == T.SIMILARITY_COLUMNS + ["direction", "variant", "published"]
    assert list(frame.measure) == ["cka_debiased"] * 2 + ["jaccard@10"] * 2 + ["rtd"] * 2
    assert list(frame.eps) == [0.0, 1.0] * 3 and set(frame.source) == {""}
    assert frame.set_index("measure").loc["rtd", "direction"].tolist() == ["lower", "lower"]
    assert frame.set_index("measure").loc["cka_debiased", "published"].all()
    empty = T.similarity_table(T.read_csvs([], T.SIMILARITY_COLUMNS))
    assert empty.empty and list(empty.columns) == T.SIMILARITY_COLUMNS + ["direction", "variant", "published"]
    assert list(T.spearman_table(empty).columns) == T.SPEARMAN_COLUMNS


# ---------------------------------------------------------------- Spearman


def exact_spearman_pvalue(x, y):
    """Two-sided p-value over all n! pairings, from the definition."""
    observed = scipy.stats.spearmanr(x, y).statistic
    stats = np.array([scipy.stats.spearmanr(x, np.asarray(y)[list(p)]).statistic
                      for p in itertools.permutations(range(len(y)))])
    tol = 1e-12
    return min(1.0, 2 * min((stats >= observed - tol).mean(), (stats <= observed + tol).mean()))


@pytest.mark.parametrize("x,y", [
    ([0, 0.25, 0.5, 1, 3, 5], [0.1, 0.3, 0.2, 0.5, 0.4, 0.9]),
    ([0, 0, 0.5, 0.5, 1, 1], [0.7, 0.6, 0.65, 0.5, 0.3, 0.45]),  # ties in ε, as in the tables
    ([0, 0, 1, 1, 3], [0.2, 0.2, 0.1, 0.3, 0.3]),  # ties in both
])
def test_spearman_permutation_pvalue_against_exact_enumeration(x, y):
    assert T.spearman_permutation_pvalue(x, y, n_resamples=9999) == pytest.approx(exact_spearman_pvalue(x, y))


def test_spearman_table_columns_against_scipy():
    rng = np.random.default_rng(0)
    rows = [T.similarity_rows({"cka": 0.5 + eps / 8 + rng.normal(0, 0.05), "agreement": 0.9 - eps / 4},
                              dataset="d", eps=eps, inputs="regular", source="", model_a=f"a{pair}", model_b="b")
            for eps in (0, 0.25, 0.5, 1) for pair in range(4)]
    frame = pd.concat(rows)
    table = T.spearman_table(frame, n_resamples=999, seed=3)
    assert list(table.columns) == T.SPEARMAN_COLUMNS
    table = table.set_index("measure")
    cka = frame[frame.measure == "cka"]
    expected = scipy.stats.spearmanr(cka.eps, cka.value)
    assert table.loc["cka", "spearman_rho"] == pytest.approx(expected.statistic)
    assert table.loc["cka", "p_asymptotic"] == pytest.approx(expected.pvalue)
    reference = scipy.stats.permutation_test(
        (cka.value.to_numpy(),), lambda v: scipy.stats.spearmanr(cka.eps, v).statistic,
        permutation_type="pairings", n_resamples=999, rng=np.random.default_rng(3))
    assert table.loc["cka", "p_permutation"] == pytest.approx(reference.pvalue) == table.loc["cka", "p_value"]
    assert table.loc["cka", "n_resamples"] == 999 and table.loc["cka", "n"] == 16
    assert table.loc["agreement", "spearman_rho"] == pytest.approx(-1.0)
    assert table.loc["agreement", "p_permutation"] == pytest.approx(2 / 1000)  # only the observed pairing
    again = T.spearman_table(frame, n_resamples=999, seed=3).set_index("measure")
    assert again.loc["cka", "p_permutation"] == table.loc["cka", "p_permutation"]


# ---------------------------------------------------------------- subgroups


def subgroup_frame(n_pairs=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for pair in range(n_pairs):
        base = rng.normal(0.6, 0.05)
        for group, shift in (("agree", -0.05), ("disagree", 0.0), ("agree_matched", 0.001)):
            rows.append({"dataset": "d", "eps": 0.0, "model_a": f"a{pair}", "model_b": "b", "subgroup": group,
                         "measure": "cka", "value": base + shift + rng.normal(0, 0.002), "n_inputs": 10,
                         "std": np.nan, "n_draws": 1})
    return pd.DataFrame(rows, columns=T.SUBGROUP_TABLE_COLUMNS)


def test_subgroup_test_table_has_the_size_matched_test():
    frame = subgroup_frame()
    frame.loc[(frame.model_a == "a0") & (frame.subgroup == "agree_matched"), "value"] = np.nan  # missing: dropped
    table = T.subgroup_test_table(frame, {"d": st.SubgroupSettings(n_resamples=999, seed=4)})
    assert list(table.columns) == T.SUBGROUP_TEST_COLUMNS and len(table) == 1
    row = table.iloc[0]
    wide = frame.pivot_table(index="model_a", columns="subgroup", values="value", dropna=False)
    raw = paired_permutation_test(wide.agree, wide.disagree, n_resamples=999, seed=4)
    both = wide[["agree_matched", "disagree"]].dropna()
    matched = paired_permutation_test(both.agree_matched, both.disagree, n_resamples=999, seed=4)
    assert row.n_pairs == 6 and row.n_pairs_matched == 5
    assert row.p_value == raw["p_value"] and row.statistic == pytest.approx(raw["statistic"])
    assert row.p_value_matched == matched["p_value"] and row.statistic_matched == pytest.approx(matched["statistic"])
    assert row.mean_agree_matched == pytest.approx(both.agree_matched.mean())
    assert row.p_value < 0.05 < row.p_value_matched  # a shift of -0.05 vs one of 0.001


def test_subgroup_tables_without_a_matched_column_or_without_pairs(tmp_path):
    old = subgroup_frame()
    old = old[old.subgroup != "agree_matched"].drop(columns=["std", "n_draws"])  # tables of earlier runs
    path = tmp_path / "pair.csv"
    old.to_csv(path, index=False)
    subgroups = T.read_csvs([path], T.SUBGROUP_TABLE_COLUMNS)
    tests = T.subgroup_test_table(subgroups, {"d": st.SubgroupSettings(n_resamples=99, seed=0)})
    assert list(subgroups.columns) == T.SUBGROUP_TABLE_COLUMNS
    assert tests.n_pairs.tolist() == [6] and tests.n_pairs_matched.tolist() == [0]
    assert np.isnan(tests.p_value_matched).all() and not np.isnan(tests.p_value).any()
    subgroups = T.read_csvs([], T.SUBGROUP_TABLE_COLUMNS)
    tests = T.subgroup_test_table(subgroups, {})
    assert subgroups.empty and list(subgroups.columns) == T.SUBGROUP_TABLE_COLUMNS
    assert tests.empty and list(tests.columns) == T.SUBGROUP_TEST_COLUMNS


def test_compare_subgroups(tmp_path):
    a, b = activations(3, n=120), activations(4, n=120)
    files = pair_files(tmp_path, a, b)
    frame = jobs.compare_subgroups(files["act_a"], files["act_b"], st.SubgroupSettings(min_size=10, k=5, matched_draws=2),
                                   SETTINGS, dataset="d", eps=3, model_a="m1", model_b="m2", out=tmp_path / "sub.csv")
    assert pd.read_csv(tmp_path / "sub.csv").shape == frame.shape
    assert list(frame.columns) == T.SUBGROUP_TABLE_COLUMNS
    assert set(frame.subgroup) == {"agree", "disagree", "agree_matched"} and set(frame.eps) == {3.0}
    n_agree = int((a["logits"].argmax(1) == b["logits"].argmax(1)).sum())
    assert set(frame[frame.subgroup == "agree"].n_inputs) == {n_agree}


# ---------------------------------------------------------------- probes and bounds, end to end


def write_activations(path, act):
    with h5py.File(path, "w") as fh:
        for name in ("representations", "logits", "labels", "index"):
            fh[name] = act[name]
        for key, value in act["attrs"].items():
            fh.attrs[key] = value


def test_analysis_tables_end_to_end(tmp_path):
    models = ["m1", "m2", "m3"]
    acts = {m: activations(i, dataset="d", model=m, eps=0.0) for i, m in enumerate(models)}
    regular_paths, eval_paths, probe_paths, rows = [], [], [], []
    for m, act in acts.items():
        regular_paths.append(tmp_path / f"{m}.h5")
        write_activations(regular_paths[-1], act)
        eval_paths.append(tmp_path / f"{m}.json")
        accuracy = float((act["logits"].argmax(1) == act["labels"]).mean())
        eval_paths[-1].write_text(json.dumps({"dataset": "d", "model": m, "eps": 0.0, "clean_accuracy": accuracy}))
        probe_paths.append(tmp_path / f"{m}_probe.h5")
        with h5py.File(probe_paths[-1], "w") as fh:
            fh["logits"] = np.stack([act["logits"], act["logits"][::-1]])
            fh.attrs.update({"dataset": "d", "model": m, "eps": 0.0})
    for a, b in itertools.combinations(models, 2):
        rows.append(T.similarity_rows({"agreement": S.agreement(acts[a]["logits"], acts[b]["logits"])},
                                      dataset="d", eps=0.0, inputs="regular", source="", model_a=a, model_b=b))
    similarity_path = tmp_path / "similarity.csv"
    pd.concat(rows).to_csv(similarity_path, index=False)
    dataset_json = tmp_path / "dataset.json"
    dataset_json.write_text(json.dumps({"dataset": "d", "num_classes": 4}))
    out = jobs.analysis_tables(similarity_path=similarity_path, subgroup_paths=[], probe_paths=probe_paths,
                               eval_paths=eval_paths, regular_paths=regular_paths, dataset_paths=[dataset_json],
                               subgroups={"d": st.SubgroupSettings(n_resamples=99)})
    probes, bounds = out["probes"], out["agreement_bounds"]
    assert list(probes.columns) == T.PROBE_COLUMNS and list(bounds.columns) == T.BOUNDS_COLUMNS
    assert len(probes[probes.kind == "probes ε=0"]) == 3 * 2 and len(probes[probes.kind == "pretrained ε=0"]) == 3
    first = probes[(probes.kind == "probes ε=0") & (probes.seed == 0)].set_index(["model_a", "model_b"])
    pretrained = probes[probes.kind == "pretrained ε=0"].set_index(["model_a", "model_b"])
    assert first.agreement.to_dict() == pytest.approx(pretrained.agreement.to_dict())  # probe 0 = the classifier
    assert len(bounds) == 3
    assert ((bounds.error_lower <= bounds.agreement + 1e-12) & (bounds.agreement <= bounds.error_upper + 1e-12)).all()
    errors = {m: float((acts[m]["logits"].argmax(1) != acts[m]["labels"]).mean()) for m in models}
    assert bounds.set_index("model_a").loc["m1", "error_a"].tolist() == [errors["m1"]] * 2
    assert np.allclose(bounds.clean_accuracy_a, 1 - bounds.error_a)
    assert out["subgroups"].empty and out["subgroup_tests"].empty


def test_analysis_tables_of_a_one_model_data_set(tmp_path):
    act = activations(0, dataset="d", model="m1", eps=0.0)
    write_activations(tmp_path / "m1.h5", act)
    (tmp_path / "m1.json").write_text(json.dumps({"dataset": "d", "model": "m1", "eps": 0.0, "clean_accuracy": 0.5}))
    T.similarity_table(T.read_csvs([], T.SIMILARITY_COLUMNS)).to_csv(tmp_path / "similarity.csv", index=False)
    (tmp_path / "dataset.json").write_text(json.dumps({"dataset": "d", "num_classes": 4}))
    out = jobs.analysis_tables(similarity_path=tmp_path / "similarity.csv", subgroup_paths=[], probe_paths=[],
                               eval_paths=[tmp_path / "m1.json"], regular_paths=[tmp_path / "m1.h5"],
                               dataset_paths=[tmp_path / "dataset.json"], subgroups={"d": st.SubgroupSettings()},
                               outputs={name: tmp_path / f"{name}.csv" for name in
                                        ("subgroups", "subgroup_tests", "probes", "agreement_bounds")})
    columns = {"subgroups": T.SUBGROUP_TABLE_COLUMNS, "subgroup_tests": T.SUBGROUP_TEST_COLUMNS,
               "probes": T.PROBE_COLUMNS, "agreement_bounds": T.BOUNDS_COLUMNS}
    for name, frame in out.items():
        assert frame.empty and list(frame.columns) == columns[name], name
        assert list(pd.read_csv(tmp_path / f"{name}.csv").columns) == columns[name]


def test_agreement_bounds_say_where_fort_does_not_apply():
    similarity = pd.DataFrame([{"dataset": "d", "eps": 0.0, "inputs": "regular", "source": "", "model_a": a,
                                "model_b": b, "measure": "agreement", "value": 0.5}
                               for a, b in (("good", "fine"), ("good", "chance"))])
    accuracy = {("d", "good", 0.0): 0.9, ("d", "fine", 0.0): 0.8, ("d", "chance", 0.0): 0.08}
    errors = {key: 1 - acc for key, acc in accuracy.items()}
    table = T.agreement_bounds_table(similarity, accuracy, errors, {"d": 10}).set_index("model_b")
    assert bool(table.loc["fine", "fort_applies"]) and 0 <= table.loc["fine", "fort_lower"] <= 1
    assert not table.loc["chance", "fort_applies"]
    assert np.isnan(table.loc["chance", "fort_lower"]) and np.isnan(table.loc["chance", "fort_upper"])
    assert table.loc["chance", "error_lower"] == pytest.approx(1 - min(0.1 + 0.92, 1))  # the other limits stay
