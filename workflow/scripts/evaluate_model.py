"""Clean and adversarial accuracy of one model on the evaluation split."""
from robuniv.checkpoints import load_robustness_checkpoint
from robuniv.data import load_split
from robuniv.runtime import pick_device, setup_job, write_json
from robuniv.training import evaluate

log = setup_job(snakemake.log[0], snakemake.threads)
w = snakemake.wildcards
settings = snakemake.params.evaluation
source = dict(snakemake.params.source)
eval_set = load_split(source.pop("source"), "eval", source)
model = load_robustness_checkpoint(snakemake.input.checkpoint, **snakemake.params.spec)
eps = float(w.eps)
# Each model is attacked at its own ε (standard models at `standard_attack_eps`), then at the fixed ones.
attack_eps = [eps if eps > 0 else settings["standard_attack_eps"]]
attack_eps += [e for e in settings["fixed_attack_eps"] if e not in attack_eps]
attacks = []
for a in attack_eps:
    result = evaluate(model, eval_set, attack_eps=a, attack_steps=settings["attack_steps"],
                      attack_step_factor=settings["attack_step_factor"], batch_size=settings["batch_size"],
                      max_images=settings["max_images"], device=pick_device())
    log.info("attack ε=%g: clean %.4f adversarial %.4f", a, result["clean_accuracy"], result["adversarial_accuracy"])
    attacks.append(result)
write_json({"dataset": w.dataset, "model": w.model, "arch": snakemake.params.arch, "eps": eps,
            "checkpoint": snakemake.input.checkpoint, "n_images": attacks[0]["n_images"],
            "clean_accuracy": attacks[0]["clean_accuracy"], "attacks": attacks}, snakemake.output[0])
