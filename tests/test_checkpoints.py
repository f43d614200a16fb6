import hashlib
import http.server
import threading

import pytest
import torch
import torchvision.models as tvm

from robuniv.checkpoints import (CheckpointError, DownloadError, download, load_robustness_checkpoint,
                                 save_robustness_checkpoint)
from robuniv.models import ARCHITECTURES, IMAGENET_MEAN, IMAGENET_STD, create_model


def robustness_format(net_state, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """A checkpoint as robustness.train writes it (written here independently of robuniv)."""
    mean_t, std_t = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    model = {"module.normalizer.new_mean": mean_t, "module.normalizer.new_std": std_t,
             "module.attacker.normalize.new_mean": mean_t, "module.attacker.normalize.new_std": std_t}
    for k, v in net_state.items():
        model["module.model." + k] = v
        model["module.attacker.model." + k] = v.clone()
    return {"model": model, "optimizer": {"state": {}, "param_groups": []}, "schedule": None, "epoch": 90}


def test_salman_style_checkpoint_of_torchvision_resnet18_loads_strictly(tmp_path):
    torch.manual_seed(0)
    tv = tvm.resnet18().eval()
    path = tmp_path / "resnet18_l2_eps3.ckpt"
    torch.save(robustness_format(tv.state_dict()), path)
    model = load_robustness_checkpoint(path, "resnet18", 1000)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = tv((x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        assert torch.allclose(model(x), expected, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_imagenet_architecture_round_trips(tmp_path, arch):
    # Width 0.25 keeps the files small; the keys are torchvision's at every width (test_models checks
    # the full-width shapes against torchvision).
    torch.manual_seed(0)
    original = create_model(arch, 1000, width=0.25).eval()
    path = tmp_path / f"{arch}.ckpt"
    torch.save(robustness_format(original.net.state_dict()), path)
    loaded = load_robustness_checkpoint(path, arch, 1000, width=0.25)
    for key, value in original.net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[key], value), key
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))


def test_our_writer_produces_the_robustness_layout(tmp_path):
    model = create_model("resnet18", 10, variant="cifar", width=0.125, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "m.ckpt"
    save_robustness_checkpoint(path, model, optimizer=opt, epoch=3)
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt) >= {"model", "optimizer", "schedule", "epoch"} and ckpt["epoch"] == 3
    keys = set(ckpt["model"])
    net_keys = set(model.net.state_dict())
    assert {k for k in keys if k.startswith("module.model.")} == {"module.model." + k for k in net_keys}
    assert {k for k in keys if k.startswith("module.attacker.model.")} == {"module.attacker.model." + k for k in net_keys}
    assert torch.equal(ckpt["model"]["module.normalizer.new_mean"], torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1))
    assert ckpt["model"]["module.attacker.normalize.new_std"].shape == (3, 1, 1)
    loaded = load_robustness_checkpoint(path, "resnet18", 10, variant="cifar", width=0.125)
    assert torch.allclose(loaded.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))


def test_mismatched_checkpoint_names_file_and_first_key(tmp_path):
    path = tmp_path / "r18.ckpt"
    torch.save(robustness_format(create_model("resnet18", 1000, width=0.25).net.state_dict()), path)
    with pytest.raises(CheckpointError, match=r"r18\.ckpt.*missing key\(s\), first 'module\.model\.layer1\.0\.conv3"):
        load_robustness_checkpoint(path, "resnet50", 1000, width=0.25)
    with pytest.raises(CheckpointError, match=r"r18\.ckpt.*fc\.weight has shape"):
        load_robustness_checkpoint(path, "resnet18", 10, width=0.25)
    state = robustness_format(create_model("resnet18", 1000, width=0.25).net.state_dict())
    state["model"]["module.model.extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="unexpected key.*module.model.extra.weight"):
        load_robustness_checkpoint(path, "resnet18", 1000, width=0.25)


def test_corrupt_and_missing_checkpoint(tmp_path):
    path = tmp_path / "broken.ckpt"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="broken.ckpt.*corrupt"):
        load_robustness_checkpoint(path, "resnet18", 10)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_robustness_checkpoint(tmp_path / "nope.ckpt", "resnet18", 10)
    torch.save({"weights": {}}, path)
    with pytest.raises(CheckpointError, match="no 'model' state dict"):
        load_robustness_checkpoint(path, "resnet18", 10)


# ---------------------------------------------------------------- downloads from a loopback server
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/complete.ckpt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/truncated.ckpt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_complete_download_with_sha256(server, tmp_path):
    dest = tmp_path / "sub" / "model.ckpt"
    download(f"{server}/complete.ckpt", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]


def test_truncated_download_leaves_nothing(server, tmp_path):
    dest = tmp_path / "model.ckpt"
    with pytest.raises(DownloadError, match=r"truncated\.ckpt"):
        download(f"{server}/truncated.ckpt", dest)
    assert list(tmp_path.iterdir()) == []


def test_404_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match=r"missing\.ckpt failed: HTTP 404"):
        download(f"{server}/missing.ckpt", tmp_path / "m.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_sha256_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="sha256"):
        download(f"{server}/complete.ckpt", tmp_path / "m.ckpt", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_host(tmp_path):
    with pytest.raises(DownloadError, match="127.0.0.1:9"):
        download("http://127.0.0.1:9/x.ckpt", tmp_path / "m.ckpt", timeout=5)
    assert list(tmp_path.iterdir()) == []
