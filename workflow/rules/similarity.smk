# Similarity: one small table per model pair and input set (regular: unordered pairs; inverted: ordered
# pairs (A, B) on A's inverted images), so adding a model adds only its own comparisons.


rule compare_regular:
    input:
        act_a="results/{dataset}/eps{eps}/activations/{model_a}/regular.h5",
        act_b="results/{dataset}/eps{eps}/activations/{model_b}/regular.h5",
        knn_a="results/{dataset}/eps{eps}/knn/{model_a}/regular.h5",
        knn_b="results/{dataset}/eps{eps}/knn/{model_b}/regular.h5",
    output:
        "results/{dataset}/eps{eps}/similarity/regular/{model_a}__{model_b}.csv",
    params:
        similarity=lambda wc: rc.similarity_settings(config, wc.dataset),
        kind="regular",
    log:
        "logs/{dataset}/eps{eps}/compare/regular/{model_a}__{model_b}.log",
    conda:
        ENV
    threads: rule_threads("compare")
    resources:
        mem_mb=rule_resource("compare", "mem_mb", 8000),
        runtime=rule_resource("compare", "runtime", 60),
    script:
        "../scripts/compare_models.py"


rule compare_inverted:
    input:
        act_a="results/{dataset}/eps{eps}/activations/{model_a}/inverted-{model_a}.h5",
        act_b="results/{dataset}/eps{eps}/activations/{model_b}/inverted-{model_a}.h5",
        knn_a="results/{dataset}/eps{eps}/knn/{model_a}/inverted-{model_a}.h5",
        knn_b="results/{dataset}/eps{eps}/knn/{model_b}/inverted-{model_a}.h5",
    output:
        "results/{dataset}/eps{eps}/similarity/inverted/{model_a}__{model_b}.csv",
    params:
        similarity=lambda wc: rc.similarity_settings(config, wc.dataset),
        kind="inverted",
    log:
        "logs/{dataset}/eps{eps}/compare/inverted/{model_a}__{model_b}.log",
    conda:
        ENV
    threads: rule_threads("compare")
    resources:
        mem_mb=rule_resource("compare", "mem_mb", 8000),
        runtime=rule_resource("compare", "runtime", 60),
    script:
        "../scripts/compare_models.py"
