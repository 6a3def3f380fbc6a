"""lib.pretrained: the shipped CNN (sha256, recorded accuracy, recipe), the task splits, and the
model-zoo path, tested offline (no test may touch the network)."""

import importlib.util
import re
import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from lib import data, pretrained

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("pretrain", ROOT / "scripts" / "pretrain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- the shipped CNN


def test_loaded_model_reproduces_the_recorded_source_accuracy():
    model = pretrained.load_source_cnn()
    record = pretrained.load_record()
    source = pretrained.task("source")
    with torch.no_grad():
        for part in ("val", "test"):
            x, y = getattr(source, f"x_{part}"), getattr(source, f"y_{part}")
            acc = (model(x).argmax(1) == y).float().mean().item()
            assert abs(acc - record[f"{part}_acc"]) <= 0.01, (part, acc, record[f"{part}_acc"])
    assert not model.training


def test_weights_file_is_small_and_its_sha256_is_recorded_everywhere():
    path = data.DATA_DIR / pretrained.WEIGHTS
    record = pretrained.load_record()
    assert path.stat().st_size == record["bytes"] <= 2_000_000
    assert data.sha256_file(path) == pretrained.SHA256[pretrained.WEIGHTS] == record["sha256"]
    readme = (ROOT / "data" / "README.md").read_text()
    assert record["sha256"] in readme and f"{record['bytes']:,}" in readme


def test_script_recipe_is_the_recorded_one():
    script = load_script()
    record = pretrained.load_record()
    assert script.RECIPE == record["recipe"]
    assert record["recipe"]["architecture"]["channels"] == list(pretrained.ARCHITECTURE["channels"])
    assert record["recipe"]["classes"] == list(pretrained.task("source", k=1).classes)


def test_missing_weights_name_the_file_and_the_script(tmp_path):
    with pytest.raises(data.DataError,
                       match=r"pretrained_fashion5\.pt is missing.*python scripts/pretrain\.py"):
        pretrained.load_source_cnn(root=tmp_path)


def test_corrupted_weights_name_the_file_both_hashes_and_the_script(tmp_path):
    shutil.copy(data.DATA_DIR / pretrained.WEIGHTS, tmp_path)
    path = tmp_path / pretrained.WEIGHTS
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(data.DataError) as err:
        pretrained.load_source_cnn(root=tmp_path)
    message = str(err.value)
    for text in (str(path), "corrupted", pretrained.SHA256[pretrained.WEIGHTS],
                 data.sha256_file(path), "python scripts/pretrain.py"):
        assert text in message


# ----------------------------------------------------------------------------- the tasks


def test_tasks_have_disjoint_classes_and_the_requested_counts():
    source, similar = pretrained.task("source", k=7), pretrained.task("similar", k=7, seed=1)
    different = pretrained.task("different", k=3)
    assert set(source.classes).isdisjoint(similar.classes)
    assert len(set(source.classes) | set(similar.classes)) == 10
    for t, n_classes in ((source, 5), (similar, 5), (different, 10)):
        assert t.x_train.shape == (7 * n_classes if t is not different else 30, 1, 28, 28)
        counts = t.y_train.bincount(minlength=n_classes).tolist()
        assert counts == [len(t.y_train) // n_classes] * n_classes
        assert len(t.classes) == n_classes
        for part in ("val", "test"):  # complete: 500 per class for Fashion-MNIST, 2,000 digits
            assert len(getattr(t, f"y_{part}")) == (500 * 5 if n_classes == 5 else 2000)
    full = pretrained.task("source")
    assert len(full.y_train) == 5 * 2000
    assert full.classes == ("T-shirt/top", "Trouser", "Pullover", "Sandal", "Bag")


def test_task_picks_are_seeded_and_drawn_from_the_prepared_data():
    a, b = pretrained.task("similar", k=5, seed=0), pretrained.task("similar", k=5, seed=0)
    c = pretrained.task("similar", k=5, seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_train, c.x_train)
    prepared = data.fashion_mnist(flatten=False, tensors=True)  # the one home of the data
    same = (prepared.x_train == a.x_train[0, 0]).flatten(1).all(1)  # one image, this one
    assert same.sum().item() == 1
    assert prepared.classes[prepared.y_train[same.long().argmax()]] == a.classes[a.y_train[0]]
    assert (a.mean, a.std) == (prepared.mean, prepared.std)


def test_task_bad_input_names_the_allowed_values():
    with pytest.raises(ValueError, match=r"unknown task 'cifar'; allowed: 'source', 'similar'"):
        pretrained.task("cifar")
    for k in (0, 2001, 2.5):
        with pytest.raises(ValueError, match=r"k must be None \(all\) or an integer in \[1, 2000"):
            pretrained.task("source", k=k)


# ----------------------------------------------------------------------------- heads and groups


def test_replace_head_and_param_groups():
    model = pretrained.replace_head(pretrained.source_cnn(), 10, generator=3)
    assert model[-1].out_features == 10
    groups = pretrained.param_groups(model, "18", lr=0.1)
    assert [g["lr"] for g in groups] == [0.1, pytest.approx(0.01)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    model[:-1].requires_grad_(False)  # feature extraction: only the head trains
    (head,) = pretrained.param_groups(model, "18", lr=0.1)
    assert head["params"] == list(model[-1].parameters())
    with pytest.raises(ValueError, match=r"unknown head 'fc'; .* '0', '1'"):
        pretrained.param_groups(model, "fc", lr=0.1)
    with pytest.raises(ValueError, match=r"backbone_lr_ratio must be in \[0, 1\]"):
        pretrained.param_groups(model, "18", lr=0.1, backbone_lr_ratio=10)


# ----------------------------------------------------------------------------- the model zoo


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache in tmp_path; any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        pytest.fail(f"a download was attempted: {args}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    assert Path(torch.hub.get_dir()) == tmp_path / "hub"
    return tmp_path / "hub" / "checkpoints"


def test_zoo_without_cached_weights_says_how_to_download_them(offline_hub):
    with pytest.raises(FileNotFoundError, match=r"not in the torch hub cache.*download them once"):
        pretrained.zoo_resnet18(num_classes=5)


def test_zoo_loads_cached_weights_replaces_the_head_and_freezes(offline_hub):
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    torch.manual_seed(0)
    stand_in = torchvision.models.resnet18().state_dict()  # random weights in the cache's place
    offline_hub.mkdir(parents=True)
    torch.save(stand_in, offline_hub / Path(weights.url).name)

    model = pretrained.zoo_resnet18(num_classes=5, freeze=True)
    assert torch.equal(model.conv1.weight, stand_in["conv1.weight"])
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 5
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    (group,) = pretrained.param_groups(model, "fc", lr=0.01)

    images = data.fashion_mnist(n_train=2, flatten=False, standardize=None, tensors=True).x_train
    x = pretrained.zoo_transform(images)
    assert x.shape == (2, 3, 224, 224)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 5)

    unfrozen = pretrained.zoo_resnet18(num_classes=5)
    head, backbone = pretrained.param_groups(unfrozen, "fc", lr=0.01)
    assert (head["lr"], backbone["lr"]) == (0.01, pytest.approx(0.001))


def test_zoo_bad_input_names_the_allowed_values():
    with pytest.raises(ValueError, match=r"unknown ResNet-18 weights 'IMAGENET'; allowed: DEFAULT"):
        pretrained.zoo_resnet18(num_classes=5, weights="IMAGENET")
    with pytest.raises(ValueError, match=re.escape("got shape (2, 3, 28, 28)")):
        pretrained.zoo_transform(torch.zeros(2, 3, 28, 28))


def test_freeze_stops_gradients_and_keeps_batchnorm_in_eval_mode():
    model = pretrained.source_cnn()
    assert pretrained.freeze_(model[:4]) is not None
    model.train()  # the trap: train() would put the frozen BN back into training mode
    assert not model[1].training and model[5].training
    assert not any(p.requires_grad for p in model[:4].parameters())
    before = model[1].running_mean.clone()
    model(torch.randn(4, 1, 28, 28) + 2).sum().backward()
    assert torch.equal(model[1].running_mean, before) and model[0].weight.grad is None
    assert model[4].weight.grad is not None
