"""Train one model at one ε (L2-PGD adversarial training; ε = 0 is standard training)."""
from robuniv.data import load_split
from robuniv.models import create_model
from robuniv.runtime import pick_device, setup_job
from robuniv.training import TrainSettings, seed_everything, train_model

log = setup_job(snakemake.log[0], snakemake.threads)
settings = TrainSettings(**snakemake.params.training)
source = dict(snakemake.params.source)
train_set = load_split(source.pop("source"), "train", source, augment=settings.augment)
seed_everything(settings.seed)  # the initial weights depend on the model's seed only
model = create_model(**snakemake.params.spec)
w = snakemake.wildcards
meta = {"dataset": w.dataset, "model": w.model, "eps": float(w.eps), **snakemake.params.spec}
meta = {k: (str(v) if isinstance(v, (list, tuple)) else v) for k, v in meta.items()}
summary = train_model(model, train_set, settings, checkpoint_path=snakemake.output[0],
                      resume_path=snakemake.params.resume, meta=meta, device=pick_device())
log.info("done: %s", summary["history"][-1])
