"""build_model against torchvision's published layouts: parameter counts, layer names, shapes."""

import pytest
import torch
from torch import nn

from skintrinsic.nets import (
    ARCHITECTURES,
    build_model,
    get_layer,
    layer_names,
    penultimate_layer,
    profile_layers,
)

# torchvision.models.<arch>(weights=None) at 3 channels and 1000 classes: sum of p.numel()
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def build_meta(*args, **kwargs):
    # the meta device allocates nothing: full-width VGG-19 costs no memory or init time
    with torch.device("meta"):
        return build_model(*args, **kwargs)


@pytest.mark.parametrize("arch", sorted(TORCHVISION_PARAMS))
def test_parameter_counts_equal_torchvision(arch):
    assert n_params(build_meta(arch, in_channels=3, n_classes=1000)) == TORCHVISION_PARAMS[arch]


@pytest.mark.parametrize("arch", sorted(TORCHVISION_PARAMS))
def test_parameter_counts_follow_channels_and_classes(arch):
    # Only the first convolution and the last Linear change: count them by hand.
    first_conv_out, kernel = (64, 7 * 7) if arch.startswith("resnet") else (64, 3 * 3)
    head_in = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}.get(arch, 4096)
    expected = (TORCHVISION_PARAMS[arch] - 2 * first_conv_out * kernel
                - (head_in + 1) * (1000 - 2))
    assert n_params(build_meta(arch, in_channels=1, n_classes=2)) == expected


def test_torchvision_layer_names():
    # well-known keys of torchvision's state dicts, so hooks and checkpoints line up
    resnet = build_meta("resnet50", 3, 1000).state_dict()
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv3.weight",
                "layer1.0.downsample.0.weight", "layer4.2.bn3.bias", "fc.weight"):
        assert key in resnet
    assert "layer4.3.conv1.weight" not in resnet  # ResNet-50 has 3 blocks in layer4
    vgg = build_meta("vgg16", 3, 1000).state_dict()
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert sorted(int(k.split(".")[1]) for k in vgg if k.startswith("features")
                  and k.endswith("weight")) == convs
    assert [k for k in vgg if k.startswith("classifier") and k.endswith("weight")] == [
        "classifier.0.weight", "classifier.3.weight", "classifier.6.weight"]
    assert vgg["classifier.0.weight"].shape == (4096, 512 * 7 * 7)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_logits_shape_for_small_images(arch, shape):
    torch.manual_seed(0)
    model = build_model(arch, in_channels=shape[0], n_classes=5, width=0.0625,
                        depth=1, input_size=shape[1:])
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()


def test_grayscale_accepts_images_without_channel_axis():
    model = build_model("small_cnn", 1, 3, input_size=12).eval()
    x = torch.randn(4, 12, 12)
    torch.testing.assert_close(model(x), model(x[:, None]))


def test_small_stem_chosen_below_64_pixels():
    big = build_model("resnet18", width=0.0625, input_size=224)
    small = build_model("resnet18", width=0.0625, input_size=32)
    assert (big.conv1.kernel_size, big.conv1.stride) == ((7, 7), (2, 2))
    assert isinstance(big.maxpool, nn.MaxPool2d)
    assert (small.conv1.kernel_size, small.conv1.stride) == ((3, 3), (1, 1))
    assert isinstance(small.maxpool, nn.Identity)
    forced = build_model("resnet18", width=0.0625, input_size=32, stem="imagenet")
    assert forced.conv1.kernel_size == (7, 7)
    vgg = build_model("vgg13", width=0.0625, input_size=32)
    assert vgg.avgpool.output_size == (1, 1)
    assert vgg.classifier[0].in_features == 32  # 512 / 16 channels, pooled to 1x1


def test_vgg_skips_pools_that_would_empty_the_map():
    # 8x8: three pools bring it to 1x1, the last two stages keep 1x1 (Identity)
    model = build_model("vgg13", width=0.0625, input_size=8)
    pools = [m for m in model.features if isinstance(m, (nn.MaxPool2d, nn.Identity))]
    assert [isinstance(m, nn.MaxPool2d) for m in pools] == [True, True, True, False, False]
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 2)


def test_width_and_depth():
    model = build_model("resnet34", width=0.25, depth=(1, 2, 1, 1), input_size=32)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [1, 2, 1, 1]
    assert model.conv1.out_channels == 16 and model.fc.in_features == 128
    bottleneck = build_model("resnet50", width=0.25, depth=1, input_size=32)
    assert bottleneck.fc.in_features == 512  # 128 planes x expansion 4
    vgg = build_model("vgg19", width=0.125, depth=(1, 1, 2, 2, 2), input_size=32)
    assert sum(isinstance(m, nn.Conv2d) for m in vgg.features) == 8
    assert vgg.classifier[3].out_features == 512  # 4096 / 8
    cnn = build_model("small_cnn", depth=3, width=0.5, input_size=16)
    assert [m.out_channels for m in cnn.features if isinstance(m, nn.Conv2d)] == [16, 32, 64]


def test_penultimate_layer_names():
    assert penultimate_layer("resnet50") == "layer4"
    assert penultimate_layer("vgg19") == "classifier.3"
    assert penultimate_layer("small_cnn") == "classifier.0"
    for arch in ARCHITECTURES:
        model = build_model(arch, width=0.0625, depth=1, input_size=16)
        name = penultimate_layer(model)
        assert name in layer_names(model)
        for layer in profile_layers(model):
            get_layer(model, layer)
    vgg = build_model("vgg16", width=0.0625, input_size=16)
    assert get_layer(vgg, "classifier.3") is vgg.classifier[3]
    assert isinstance(vgg.classifier[4], nn.ReLU)  # the representation is read before this ReLU
    with pytest.raises(ValueError, match="penultimate_layer"):
        penultimate_layer(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="Unknown architecture"):
        penultimate_layer("alexnet")


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="arch must be one of"):
        build_model("resnet101")
    with pytest.raises(ValueError, match="at least two classes"):
        build_model("small_cnn", n_classes=1)
    with pytest.raises(ValueError, match="in_channels"):
        build_model("small_cnn", in_channels=0)
    with pytest.raises(ValueError, match="at least 8x8"):
        build_model("resnet18", input_size=(6, 32))
    with pytest.raises(ValueError, match="depth for vgg16"):
        build_model("vgg16", depth=(1, 2))
    with pytest.raises(ValueError, match="width"):
        build_model("vgg16", width=0)
    with pytest.raises(ValueError, match="stem"):
        build_model("vgg16", stem="tiny")
    model = build_model("resnet18", in_channels=3, width=0.0625, input_size=32)
    with pytest.raises(ValueError, match=r"in_channels=1"):
        model(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 8x8"):
        model(torch.zeros(2, 3, 4, 4))
