"""Forward passes that the workflow stores: representations and logits, streamed to HDF5."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from .h5io import atomic_h5, set_attrs


@torch.inference_mode()
def write_activations(model, batches: Iterable, path, *, n: int, attrs: dict, device="cpu") -> None:
    """Run ``model`` on (positions, images, labels, index) batches; write N×D representations and N×C logits."""
    model.to(device).eval()
    with atomic_h5(path) as fh:
        set_attrs(fh, attrs)
        reps = logits = None
        labels = fh.create_dataset("labels", shape=(n,), dtype="int64")
        index = fh.create_dataset("index", shape=(n,), dtype="int64")
        for positions, images, batch_labels, batch_index in batches:
            feats = model.forward_features(images.to(device))
            out = model.forward_head(feats)
            if reps is None:
                reps = fh.create_dataset("representations", shape=(n, feats.shape[1]), dtype="float32",
                                         chunks=(min(n, 1024), feats.shape[1]))
                logits = fh.create_dataset("logits", shape=(n, out.shape[1]), dtype="float32")
            sl = slice(int(positions[0]), int(positions[-1]) + 1)
            reps[sl] = feats.float().cpu().numpy()
            logits[sl] = out.float().cpu().numpy()
            labels[sl] = np.asarray(batch_labels)
            index[sl] = np.asarray(batch_index)
        reps.attrs["description"] = "input of the final linear classifier (penultimate representation)"
        logits.attrs["description"] = "outputs of the final linear classifier"
