# Activations: representations + logits per (data set, ε, model, input set), and the model's kNN graph
# on that input set (per-model precomputation for Jaccard).


rule extract_activations:
    input:
        unpack(activation_inputs),
    output:
        activations="results/{dataset}/eps{eps}/activations/{model}/{inputs}.h5",
        knn="results/{dataset}/eps{eps}/knn/{model}/{inputs}.h5",
    params:
        spec=model_spec,
        source=source_settings,
        batch_size=lambda wc: rc.batch_size(config, wc.dataset),
        knn_k=lambda wc: max(rc.similarity_settings(config, wc.dataset)["jaccard_k"]),
    log:
        "logs/{dataset}/eps{eps}/extract_activations/{model}/{inputs}.log",
    conda:
        ENV
    threads: rule_threads("extract_activations")
    resources:
        mem_mb=rule_resource("extract_activations", "mem_mb", 16000),
        runtime=rule_resource("extract_activations", "runtime", 120),
        gpu=rule_resource("extract_activations", "gpu", 1),
    script:
        "../scripts/extract_activations.py"
