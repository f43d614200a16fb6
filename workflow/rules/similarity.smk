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


rule similarity_tables:
    input:
        get_comparisons,
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
    script:
        "../scripts/similarity_tables.py"
