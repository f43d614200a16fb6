# Aggregations over every data set: the analysis tables (analyses 4-6) and the figures. Cheap jobs that
# rerun when a comparison is added; they run on the submitting host (localrules in the Snakefile).


rule analysis_tables:
    input:
        similarity=rules.similarity_tables.output.similarity,
        subgroups=all_subgroups(),
        probes=all_probes(),
        evaluations=all_evaluations(),
        regular=all_regular_activations(),
        datasets=expand(PATHS["dataset"], dataset=datasets()),
    output:
        **tables_of("analysis_tables"),
    log:
        path("aggregate_log", rule="analysis_tables"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("analysis_tables"),
    params:
        subgroups={d: subgroup_params(d) for d in datasets()},
    script:
        "../scripts/analysis_tables.py"


rule plot_figures:
    input:
        similarity=rules.similarity_tables.output.similarity,
        spearman=rules.similarity_tables.output.spearman,
    output:
        **figure_outputs("plot_figures"),
    log:
        path("aggregate_log", rule="plot_figures"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("plot_figures"),
    params:
        figures=get_figure_settings(),
    script:
        "../scripts/plot_figures.py"


rule analysis_figures:
    input:
        **{name: table(name) for name in catalog.TABLES_BY_RULE["analysis_tables"]},
    output:
        **figure_outputs("analysis_figures"),
    log:
        path("aggregate_log", rule="analysis_figures"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("analysis_figures"),
    params:
        figures=get_figure_settings(),
    script:
        "../scripts/analysis_figures.py"


rule figure_inversions:
    input:
        inputs=rules.prepare_inputs.output[0],
        inverted=get_inverted_images,
    output:
        **per_dataset_figure_outputs("inversion_figure", "../report/inversions.rst"),
    log:
        path("eps_log", rule="figure_inversions"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("figure_inversions"),
    params:
        figures=get_figure_settings(),
        models=get_inversion_models,
        source=get_source,
    script:
        "../scripts/figure_inversions.py"


rule figure_inversions_by_eps:
    input:
        unpack(get_figure_model_inversions),
        inputs=rules.prepare_inputs.output[0],
    output:
        **per_dataset_figure_outputs("inversion_eps_figure", "../report/fig2_inversions.rst"),
    log:
        path("dataset_log", rule="figure_inversions_by_eps"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("figure_inversions_by_eps"),
    params:
        figures=get_figure_settings(),
        model=get_figure_model,
        source=get_source,
    script:
        "../scripts/figure_inversions_by_eps.py"
