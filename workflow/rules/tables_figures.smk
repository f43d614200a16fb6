# Aggregations, one per data set: the analysis tables (analyses 4-6) and the figures. Cheap jobs that rerun
# when a comparison of their data set is added; they run on the submitting host (localrules in the Snakefile).


rule analysis_tables:
    input:
        similarity=rules.similarity_tables.output.similarity,
        subgroups=get_all_subgroups,
        probes=get_all_probes,
        evaluations=get_evaluations,
        regular=get_regular_activations,
        datasets=[PATHS["dataset"]],
    output:
        **tables_of("analysis_tables"),
    log:
        path("dataset_log", rule="analysis_tables"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("analysis_tables"),
    params:
        subgroups=get_subgroups_of_dataset,
    script:
        "../scripts/analysis_tables.py"


rule plot_figures:
    input:
        similarity=rules.similarity_tables.output.similarity,
        spearman=rules.similarity_tables.output.spearman,
    output:
        **figure_outputs("plot_figures"),
    log:
        path("dataset_log", rule="plot_figures"),
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
        path("dataset_log", rule="analysis_figures"),
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
        unpack(get_inverted_images),
        inputs=rules.prepare_inputs.output[0],
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
