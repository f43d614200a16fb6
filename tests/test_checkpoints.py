import gc
import hashlib
import http.server
import sys
import threading
import types

import pytest
import torch
import torchvision.models as tvm

from robuniv.checkpoints import (CheckpointError, DownloadError, checkpoint_layout, download, file_sha256,
                                 load_robustness_checkpoint, save_robustness_checkpoint, verify_sha256)
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
@pytest.mark.parametrize("variant", ["imagenet", "cifar"])
def test_every_architecture_round_trips(tmp_path, arch, variant):
    # Width 0.25 keeps the files small; the keys are torchvision's / the robustness library's at every
    # width (test_models checks the full-width shapes against them).
    torch.manual_seed(0)
    size = 64 if variant == "imagenet" else 32
    original = create_model(arch, 1000, width=0.25, variant=variant).eval()
    path = tmp_path / f"{arch}.ckpt"
    save_robustness_checkpoint(path, original, epoch=1)
    loaded = load_robustness_checkpoint(path, arch, 1000, width=0.25, variant=variant)
    for key, value in original.net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[key], value), key
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))


# ---------------------------------------------------------------- files written by the robustness library
def robustness_library():
    """robustness 1.2.1's modules; its imagenet_models import ``torchvision.models.utils`` (gone from
    torchvision), so that module is provided first."""
    if "torchvision.models.utils" not in sys.modules:
        shim = types.ModuleType("torchvision.models.utils")
        shim.load_state_dict_from_url = torch.hub.load_state_dict_from_url
        sys.modules["torchvision.models.utils"] = shim
    import robustness.cifar_models as cifar_models
    import robustness.imagenet_models as imagenet_models
    from robustness.attacker import AttackerModel
    from robustness.model_utils import DummyModel

    return imagenet_models, cifar_models, AttackerModel, DummyModel


class _Dataset:
    """What ``AttackerModel`` reads from a robustness dataset: ``mean`` and ``std``."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)


def _randomise_batchnorm(net):
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)


def _save_as_robustness_train_does(net, dataset, path, size=64):
    """``AttackerModel(net, dataset)`` in ``DataParallel``, saved as robustness.train saves; returns the
    library's own logits (its normaliser, then the net) on a fixed input."""
    _, _, AttackerModel, _ = robustness_library()
    _randomise_batchnorm(net)
    attacker = torch.nn.DataParallel(AttackerModel(net, dataset)).eval()
    torch.save({"model": attacker.state_dict(), "optimizer": None, "schedule": None, "epoch": 90}, path)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1)) * 1.2 - 0.1  # some out of [0, 1]
    with torch.no_grad():
        logits, _ = attacker.module(x)  # AttackerModel.forward: (output, input)
    return x, logits


IMAGENET_MODELS = ["resnet18", "resnet50", "wide_resnet50_2", "wide_resnet50_4"]  # robustness.imagenet_models
DUMMY_MODELS = {"densenet161": tvm.densenet161, "resnext50_32x4d": tvm.resnext50_32x4d,  # torchvision in
                "vgg16_bn": tvm.vgg16_bn}                                               # DummyModel


# All seven at width 1 take about 20 s and 2.5 GB (wide_resnet50_4: 0.9 GB file in tmp_path, deleted).
@pytest.mark.parametrize("arch", IMAGENET_MODELS + sorted(DUMMY_MODELS))
def test_salman_layout_written_by_the_robustness_library_loads(tmp_path, arch):
    imagenet_models, _, _, DummyModel = robustness_library()
    torch.manual_seed(0)
    if arch in DUMMY_MODELS:
        net, prefix = DummyModel(DUMMY_MODELS[arch]()), "module.model.model."
    else:
        net, prefix = getattr(imagenet_models, arch)(), "module.model."
    first_key = prefix + next(iter((net.model if arch in DUMMY_MODELS else net).state_dict()))
    path = tmp_path / f"{arch}_l2_eps3.ckpt"
    x, expected = _save_as_robustness_train_does(net, _Dataset(), path)
    del net
    gc.collect()
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    assert checkpoint_layout(state) == prefix and first_key in state
    assert "module.normalizer.new_mean" in state and any(k.startswith("module.attacker.model.") for k in state)
    del state
    model = load_robustness_checkpoint(path, arch, 1000)
    path.unlink()
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", ["resnet18", "densenet121", "vgg16"])
def test_cifar_checkpoint_written_by_the_robustness_library_loads(tmp_path, arch):
    _, cifar_models, _, _ = robustness_library()
    torch.manual_seed(0)
    net = getattr(cifar_models, arch)(num_classes=10)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)  # the library's CIFAR-10 statistics
    path = tmp_path / f"cifar_{arch}.ckpt"
    x, expected = _save_as_robustness_train_does(net, _Dataset(mean, std), path, size=32)
    model = load_robustness_checkpoint(path, arch, 10, variant="cifar")  # mean/std come from the file
    assert torch.allclose(model.std.flatten(), torch.tensor(std))
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-4, rtol=1e-4)


def test_wrong_architecture_for_a_dummy_model_file_names_file_and_layout(tmp_path):
    _, _, _, DummyModel = robustness_library()
    path = tmp_path / "densenet_l2_eps3.ckpt"
    _save_as_robustness_train_does(DummyModel(tvm.densenet121()), _Dataset(), path)
    with pytest.raises(CheckpointError, match=r"densenet_l2_eps3\.ckpt \(layout 'module\.model\.model\.\*'\) "
                                              r"does not fit resnet50.*missing key\(s\), first 'module\.model\.model\.conv1"):
        load_robustness_checkpoint(path, "resnet50", 1000)
    torch.save({"model": {"module.net.conv1.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match=r"densenet_l2_eps3\.ckpt has neither 'module\.model\.model\.' "
                                              r"nor 'module\.model\.' keys"):
        load_robustness_checkpoint(path, "densenet121", 1000)


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


# ---------------------------------------------------------------- sha256 and local sources
def test_verify_sha256(tmp_path):
    path = tmp_path / "m.ckpt"
    path.write_bytes(PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    assert verify_sha256(path, digest.upper()) == digest == file_sha256(path)
    wrong = "ab" * 32
    with pytest.raises(CheckpointError, match=rf"m\.ckpt has sha256 {digest}, expected {wrong}"):
        verify_sha256(path, wrong)
    with pytest.raises(CheckpointError, match=rf"nope\.ckpt does not exist \(expected sha256 {wrong}\)"):
        verify_sha256(tmp_path / "nope.ckpt", wrong)
    with pytest.raises(ValueError, match="not 64 hex digits"):
        verify_sha256(path, "1234")


def test_load_checks_a_configured_sha256(tmp_path):
    path = tmp_path / "r18.ckpt"
    save_robustness_checkpoint(path, create_model("resnet18", 10, variant="cifar", width=0.125))
    assert load_robustness_checkpoint(path, "resnet18", 10, variant="cifar", width=0.125,
                                      sha256=file_sha256(path)) is not None
    with pytest.raises(CheckpointError, match=r"r18\.ckpt has sha256 [0-9a-f]{64}, expected 0{64}"):
        load_robustness_checkpoint(path, "resnet18", 10, variant="cifar", width=0.125, sha256="0" * 64)


@pytest.mark.parametrize("as_url", [False, True])
def test_download_copies_a_local_file(tmp_path, as_url):
    source = tmp_path / "released models" / "resnet18 eps3.ckpt"  # spaces: file:// URLs quote them
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    url = source.as_uri() if as_url else str(source)
    dest = tmp_path / "out" / "model.ckpt"
    assert download(url, dest, sha256=hashlib.sha256(PAYLOAD).hexdigest()) == dest
    assert dest.read_bytes() == PAYLOAD and list(dest.parent.iterdir()) == [dest]
    with pytest.raises(DownloadError, match=r"resnet18( |%20)eps3\.ckpt: sha256 [0-9a-f]{64} does not match the configured 0{64}"):
        download(url, tmp_path / "other" / "m.ckpt", sha256="0" * 64)
    assert list((tmp_path / "other").iterdir()) == []


def test_download_of_a_missing_or_empty_local_file(tmp_path):
    with pytest.raises(DownloadError, match=r"nope\.ckpt failed: .*nope\.ckpt is not a file"):
        download(str(tmp_path / "nope.ckpt"), tmp_path / "out" / "m.ckpt")
    with pytest.raises(DownloadError, match="nope.ckpt failed"):
        download((tmp_path / "nope.ckpt").as_uri(), tmp_path / "out" / "m.ckpt")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(DownloadError, match="empty file"):
        download(str(tmp_path / "empty.ckpt"), tmp_path / "out" / "m.ckpt")
    assert list((tmp_path / "out").iterdir()) == []


def test_download_rejects_other_url_schemes_and_bad_digests(tmp_path):
    with pytest.raises(DownloadError, match=r"gopher://x/m\.ckpt failed"):
        download("gopher://x/m.ckpt", tmp_path / "m.ckpt")
    with pytest.raises(DownloadError, match="file:// URLs must name a local file"):
        download("file://otherhost/m.ckpt", tmp_path / "m.ckpt")
    with pytest.raises(DownloadError, match="not 64 hex digits"):
        download("http://127.0.0.1:9/x.ckpt", tmp_path / "m.ckpt", sha256="xyz")
    assert list(tmp_path.iterdir()) == []
