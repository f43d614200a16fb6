"""Download a released robust checkpoint, check it loads strictly into its architecture, keep it."""
import os
from pathlib import Path

from robuniv.checkpoints import CheckpointError, download, load_robustness_checkpoint
from robuniv.runtime import setup_job

log = setup_job(snakemake.log[0])
out = Path(snakemake.output[0])
url = snakemake.params.url
log.info("downloading %s", url)
tmp = out.with_name(f".{out.name}.downloaded")
download(url, tmp, sha256=snakemake.params.sha256, progress=True)
try:
    load_robustness_checkpoint(tmp, **snakemake.params.spec)
except CheckpointError as err:
    tmp.unlink(missing_ok=True)
    raise CheckpointError(f"{err} (downloaded from {url})") from err
os.replace(tmp, out)
log.info("saved %s", out)
