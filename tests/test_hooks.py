"""Layer access: hooks against a manual forward pass, eval mode, batching, layer resolution."""

import numpy as np
import pytest
import torch
from torch import nn

from skintrinsic.nets import (
    build_model,
    extract_features,
    layer_depth,
    layer_names,
    resolve_layers,
)


@pytest.fixture
def images():
    return torch.randn(7, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def test_resnet_layer4_equals_manual_forward(images):
    torch.manual_seed(0)
    model = build_model("resnet18", width=0.125, depth=1, input_size=16)
    model.train()  # extract_features must switch to eval (batch norm running stats)
    feats = extract_features(model, images, ["layer4", "fc"], batch_size=3)
    model.eval()
    with torch.no_grad():
        x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
        logits = model.fc(torch.flatten(model.avgpool(x), 1))
    np.testing.assert_allclose(feats["layer4"], x.reshape(7, -1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["fc"], logits.numpy(), rtol=1e-5, atol=1e-6)
    assert feats["layer4"].shape == (7, 64 * 2 * 2)  # 512/8 channels, 16 -> 2 pixels


def test_vgg_penultimate_is_read_before_its_inplace_relu(images):
    torch.manual_seed(0)
    model = build_model("vgg13", width=0.125, input_size=16)
    feats = extract_features(model, images, ["classifier.3"])["classifier.3"]
    model.eval()
    with torch.no_grad():
        x = torch.flatten(model.avgpool(model.features(images)), 1)
        c = model.classifier
        pre_relu = c[3](c[2](c[1](c[0](x))))
    np.testing.assert_allclose(feats, pre_relu.numpy(), rtol=1e-5, atol=1e-7)
    assert (feats < 0).any(), "an in-place ReLU overwrote the stored pre-activations"


def test_eval_mode_no_grad_and_flags_restored(images):
    model = build_model("vgg13", width=0.125, input_size=16)
    model.train()
    model.classifier[2].eval()  # a mixed state must come back as it was
    seen = []
    model.classifier.register_forward_hook(
        lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
    first = extract_features(model, images, ["classifier.3"])
    second = extract_features(model, images, ["classifier.3"])
    np.testing.assert_array_equal(first["classifier.3"], second["classifier.3"])  # no dropout
    assert seen and all(flags == (False, False) for flags in seen)
    assert model.training and not model.classifier[2].training and model.classifier[5].training
    assert not model.classifier[3]._forward_hooks  # the capture hook was removed


def test_batching_does_not_change_features(images):
    model = build_model("small_cnn", width=0.5, input_size=16)
    one = extract_features(model, images, ["features.2", "classifier.0"], batch_size=1)
    all_ = extract_features(model, images, ["features.2", "classifier.0"], batch_size=100,
                            include_output=True)
    for name in one:
        np.testing.assert_allclose(one[name], all_[name], rtol=1e-5, atol=1e-6)
    assert all_["output"].shape == (7, 2)
    assert one["features.2"].shape == (7, 16 * 8 * 8)


def test_resolve_layers():
    model = build_model("resnet18", width=0.125, depth=1, input_size=16)
    assert resolve_layers(model, "penultimate") == ["layer4"]
    assert resolve_layers(model, ["layer2", "penultimate", "layer2"]) == ["layer2", "layer4"]
    assert resolve_layers(model, "profile") == ["relu", "layer1", "layer2", "layer3", "layer4",
                                                "avgpool", "fc"]
    with pytest.raises(ValueError, match=r"no layer named 'layer5'.*'layer4'"):
        resolve_layers(model, ["layer5"])
    with pytest.raises(TypeError, match="strings"):
        resolve_layers(model, [3])
    with pytest.raises(ValueError, match="empty"):
        resolve_layers(model, [])
    with pytest.raises(ValueError, match="penultimate_layer"):
        resolve_layers(nn.Sequential(nn.Linear(2, 2)), "penultimate")


def test_layer_depth_follows_module_order():
    model = build_model("small_cnn", input_size=16)
    names = layer_names(model)
    depths = [layer_depth(model, n) for n in ("features.0", "features.2", "classifier.0")]
    assert depths == sorted(depths) and names[depths[0]] == "features.0"
