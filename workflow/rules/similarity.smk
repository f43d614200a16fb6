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
        mem_mb=rule_resource("compare_models", "mem_mb", 8000),
        runtime=rule_resource("compare_models", "runtime", 60),
    params:
        similarity=get_similarity,
    script:
        "../scripts/compare_models.py"


rule similarity_tables:
    input:
        all_comparisons(),
    output:
        similarity=report_table("similarity"),
        spearman=report_table("spearman"),
    log:
        "logs/similarity_tables.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        n_resamples=get_figure_settings()["n_resamples"],
    script:
        "../scripts/similarity_tables.py"
