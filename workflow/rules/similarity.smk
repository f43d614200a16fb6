# Similarity: one small table per model pair and input set (regular: unordered pairs; inverted: ordered
# pairs (A, B) on A's inverted images), so adding a model adds only its own comparisons.


rule compare_models:
    input:
        unpack(get_comparison_inputs),
    output:
        PATHS["comparison"],
    log:
        job_log("compare_models", "{kind}/{model_a}__{model_b}"),
    conda:
        ENV
    threads: rule_threads("compare_models")
    resources:
        **job_resources("compare_models"),
    params:
        similarity=get_similarity,
    script:
        "../scripts/compare_models.py"


# A catalogue family (robuniv.catalogue) of one pair: numpy only, one job per family, so that choosing a
# measure of another family, or one more measure of a family that ran, recomputes nothing that exists.
rule compare_catalogue:
    input:
        unpack(get_catalogue_inputs),
    output:
        PATHS["catalogue_comparison"],
    log:
        job_log("compare_catalogue", "{kind}/{family}/{model_a}__{model_b}"),
    conda:
        ENV
    threads: rule_threads("compare_catalogue")
    resources:
        **job_resources("compare_catalogue"),
    params:
        settings=get_family_params,
    script:
        "../scripts/compare_catalogue.py"


rule similarity_tables:
    input:
        get_comparisons,
        get_catalogue_comparisons,
    output:
        similarity=report_table("similarity"),
        spearman=report_table("spearman"),
    log:
        path("dataset_log", rule="similarity_tables"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("similarity_tables"),
    params:
        spearman=get_spearman_settings(),
        measures=get_chosen_measures,
    script:
        "../scripts/similarity_tables.py"
