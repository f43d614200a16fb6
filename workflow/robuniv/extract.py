"""Forward passes that the workflow stores: representations and logits, streamed to HDF5 (float32 always)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .h5io import atomic_h5, content_sha256, set_attrs
from .precision import autocast

log = logging.getLogger(__name__)


@torch.inference_mode()
def write_activations(model, batches: Iterable, path, *, n: int, attrs: dict, device="cpu",
                      precision: str = "fp32", logits: bool = True) -> None:
    """Run ``model`` on (positions, images, labels, index) batches; write N×D representations and N×C logits.

    ``precision`` "bf16" runs the forward pass under bf16 autocast; what is written is float32 either way.
    ``logits=False`` stores no logits (the probes' training features need none).
    """
    model.to(device).eval()
    start = time.perf_counter()
    with atomic_h5(path) as fh:
        set_attrs(fh, {**attrs, "precision": precision})
        reps = out_logits = None
        labels = fh.create_dataset("labels", shape=(n,), dtype="int64")
        index = fh.create_dataset("index", shape=(n,), dtype="int64")
        for positions, images, batch_labels, batch_index in batches:
            images = images.to(device)
            if images.dtype == torch.uint8:
                images = images.float().div_(255)
            with autocast(device, precision):
                feats = model.forward_features(images)
                out = model.forward_head(feats) if logits else None
            for what, values in (("representations", feats), ("logits", out)):
                if values is not None and not bool(torch.isfinite(values).all()):
                    raise ValueError(f"checkpoint {attrs.get('checkpoint', '?')}: its {what} of inputs "
                                     f"{int(positions[0])}-{int(positions[-1])} hold NaN or inf ({precision}); "
                                     f"nothing was written to {path}")
            if reps is None:
                reps = fh.create_dataset("representations", shape=(n, feats.shape[1]), dtype="float32",
                                         chunks=(min(n, 1024), feats.shape[1]))
                if logits:
                    out_logits = fh.create_dataset("logits", shape=(n, out.shape[1]), dtype="float32")
            sl = slice(int(positions[0]), int(positions[-1]) + 1)
            reps[sl] = feats.float().cpu().numpy()
            if logits:
                out_logits[sl] = out.float().cpu().numpy()
            labels[sl] = np.asarray(batch_labels.cpu() if torch.is_tensor(batch_labels) else batch_labels)
            index[sl] = np.asarray(batch_index)
        reps.attrs["description"] = "input of the final linear classifier (penultimate representation)"
        if logits:  # comparison inputs (N rows): their content is what kNN graphs and summaries are checked against
            out_logits.attrs["description"] = "outputs of the final linear classifier"
            fh.attrs["content_sha256"] = content_sha256(reps[()], out_logits[()], index[()])
    seconds = time.perf_counter() - start
    log.info("%s: %d inputs in %.1f s (%.1f img/s, %s)", Path(path).name, n, seconds, n / max(seconds, 1e-9),
             precision)
