# Analyses 4-6 (paper figures 5-7): agree/disagree subgroups per regular pair, one linear probe job per
# model, and the aggregations with agreement bounds.


rule compare_subgroups:
    input:
        act_a="results/{dataset}/eps{eps}/activations/{model_a}/regular.h5",
        act_b="results/{dataset}/eps{eps}/activations/{model_b}/regular.h5",
    output:
        "results/{dataset}/eps{eps}/subgroups/{model_a}__{model_b}.csv",
    params:
        # Without the list of analysed ε: adding an ε must not rerun the other ε's subgroup jobs.
        subgroups=lambda wc: {k: v for k, v in rc.subgroup_settings(config, wc.dataset).items() if k != "eps"},
        similarity=lambda wc: rc.similarity_settings(config, wc.dataset),
    log:
        "logs/{dataset}/eps{eps}/compare_subgroups/{model_a}__{model_b}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("compare_subgroups", "mem_mb", 8000),
        runtime=rule_resource("compare_subgroups", "runtime", 60),
    script:
        "../scripts/compare_subgroups.py"


rule extract_train_features:
    input:
        checkpoint=model_checkpoint,
        dataset="results/{dataset}/dataset.json",
    output:
        "results/{dataset}/eps{eps}/features_train/{model}.h5",
    params:
        spec=model_spec,
        source=source_settings,
        batch_size=lambda wc: rc.batch_size(config, wc.dataset),
    log:
        "logs/{dataset}/eps{eps}/extract_train_features/{model}.log",
    conda:
        ENV
    threads: rule_threads("extract_activations")
    resources:
        mem_mb=rule_resource("extract_train_features", "mem_mb", 16000),
        runtime=rule_resource("extract_train_features", "runtime", 240),
        gpu=rule_resource("extract_train_features", "gpu", 1),
    script:
        "../scripts/extract_train_features.py"


rule train_probe:
    input:
        train="results/{dataset}/eps{eps}/features_train/{model}.h5",
        regular="results/{dataset}/eps{eps}/activations/{model}/regular.h5",
    output:
        "results/{dataset}/eps{eps}/probes/{model}.h5",
    params:
        probes=lambda wc: {k: v for k, v in rc.probe_settings(config, wc.dataset).items() if k != "eps"},
    log:
        "logs/{dataset}/eps{eps}/train_probe/{model}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("train_probe", "mem_mb", 32000),
        runtime=rule_resource("train_probe", "runtime", 240),
        gpu=rule_resource("train_probe", "gpu", 1),
    script:
        "../scripts/train_probe.py"


rule analysis_tables:
    input:
        similarity="results/tables/similarity.csv",
        subgroups=subgroup_tables(),
        probes=[p for p, _ in probe_files()],
        evals=eval_jsons(),
        regular=[f"results/{d}/eps{e}/activations/{m}/regular.h5"
                 for d in datasets() for e in eps_levels(d) for m in model_names(d)],
    output:
        subgroups="results/tables/subgroups.csv",
        subgroup_tests="results/tables/subgroup_tests.csv",
        probes="results/tables/probes.csv",
        bounds="results/tables/agreement_bounds.csv",
    params:
        subgroups={d: rc.subgroup_settings(config, d) for d in datasets()},
        probe_meta=[meta for _, meta in probe_files()],
        num_classes={d: rc.model_spec(config, d, model_names(d)[0])["num_classes"] for d in datasets()},
    log:
        "logs/analysis_tables.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    script:
        "../scripts/analysis_tables.py"


rule analysis_figures:
    input:
        subgroups="results/tables/subgroups.csv",
        probes="results/tables/probes.csv",
        bounds="results/tables/agreement_bounds.csv",
    output:
        figure_outputs(ANALYSIS_FIGURES),
    params:
        figures=rc.figure_settings(config),
        prefix=lambda wc, output: os.path.dirname(output[0]) + "/",
    log:
        "logs/analysis_figures.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/analysis_figures.py"
