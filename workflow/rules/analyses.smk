# Tables and figures: aggregations over all comparisons (rerun when a comparison is added).


rule similarity_tables:
    input:
        comparison_tables(),
    output:
        similarity=report("results/tables/similarity.csv", caption="../report/similarity.rst", category="Tables"),
        spearman=report("results/tables/spearman.csv", caption="../report/spearman.rst", category="Tables"),
    log:
        "logs/similarity_tables.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/similarity_tables.py"


rule figures:
    input:
        similarity="results/tables/similarity.csv",
    output:
        figure_outputs(FIGURES),
    params:
        figures=rc.figure_settings(config),
        prefix=lambda wc, output: os.path.dirname(output[0]) + "/",
    log:
        "logs/figures.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule figure_inversions:
    input:
        inputs="results/{dataset}/inputs.h5",
        inverted=lambda wc: [f"results/{wc.dataset}/eps{wc.eps}/inverted/{m}.h5" for m in model_names(wc.dataset)],
    output:
        [report(f, caption="../report/inversions.rst", category="Figures", subcategory="Inverted images")
         if f.endswith(".png") else f
         for f in expand("results/figures/inversions_{{dataset}}_eps{{eps}}.{fmt}",
                         fmt=rc.figure_settings(config)["formats"])],
    params:
        figures=rc.figure_settings(config),
        prefix=lambda wc, output: os.path.splitext(output[0])[0],
        models=lambda wc: model_names(wc.dataset),
        source=source_settings,
    log:
        "logs/{dataset}/figure_inversions_eps{eps}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/figure_inversions.py"
