"""The study's own networks: layers and parameter counts pinned at 224 and 64 px."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bcbench.cost.static import count_parameters
from bcbench.models import build_model, study_nets


def linear_count(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def conv_count(inputs: int, outputs: int, kernel: int, groups: int = 1) -> int:
    return inputs // groups * outputs * kernel * kernel + outputs


def simple_cnn_count(image_size: int, num_classes: int) -> int:
    side = image_size // 2 // 2
    return (
        conv_count(3, 16, 3)
        + conv_count(16, 32, 3)
        + linear_count(32 * side * side, 512)
        + linear_count(512, 128)
        + linear_count(128, num_classes)
    )


# Hand count at 224 px, 3 classes (all convs with bias, BatchNorm = 2 parameters per channel):
#   stem    Conv2d(3, 32, 3, s2)        3*32*9 + 32      =         896   BN(32)   64
#   block1  dw Conv2d(32, 32, 3, g32)   32*9 + 32        =         320
#           pw Conv2d(32, 64, 1)        32*64 + 64       =       2,112   BN(64)  128
#   block2  dw Conv2d(64, 64, 3, s2)    64*9 + 64        =         640
#           pw Conv2d(64, 128, 1)       64*128 + 128     =       8,320   BN(128) 256
#   block3  dw Conv2d(128, 128, 3)      128*9 + 128      =       1,280
#           pw Conv2d(128, 128, 1)      128*128 + 128    =      16,512   BN(128) 256
#   block4  dw Conv2d(128, 128, 3, s2)  128*9 + 128      =       1,280
#           pw Conv2d(128, 256, 1)      128*256 + 256    =      33,024   BN(256) 512
#   convolutional part                                   =      65,600
#   fc1     Linear(256*28*28, 1024)     200,704*1024 + 1024 = 205,521,920
#   fc2     Linear(1024, 3)             1024*3 + 3       =       3,075
#   total                                                = 205,590,595
# At 64 px the feature map is 8x8: fc1 = 16,384*1024 + 1024 = 16,778,240; total 16,846,915.
STUDY_MOBILENET_224 = 205_590_595


STUDY_MOBILENET_64 = 16_846_915


def test_simple_cnn_matches_the_study_at_224() -> None:
    model = build_model("simple_cnn", 3, image_size=224)
    assert count_parameters(model) == (51_451_875, 51_451_875)
    assert simple_cnn_count(224, 3) == 51_451_875  # the formula below is the same network
    assert model.classifier[1].in_features == 32 * 56 * 56 == 100_352
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 3)


@pytest.mark.parametrize(("image_size", "num_classes"), [(64, 3), (70, 5)])
def test_simple_cnn_flatten_follows_image_size(image_size: int, num_classes: int) -> None:
    model = build_model("simple_cnn", num_classes, image_size=image_size)
    assert count_parameters(model)[0] == simple_cnn_count(image_size, num_classes)
    assert model(torch.zeros(2, 3, image_size, image_size)).shape == (2, num_classes)


def test_simple_cnn_layers_are_the_studys() -> None:
    model = build_model("simple_cnn", 3, image_size=64)
    layer_types = [type(layer) for layer in [*model.features, *model.classifier]]
    conv, relu, pool, drop, linear = nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Linear
    features = [conv, relu, pool, conv, relu, pool]
    classifier = [nn.Flatten, linear, relu, drop, linear, relu, drop, linear]
    assert layer_types == features + classifier
    assert [m.p for m in model.classifier if isinstance(m, nn.Dropout)] == [0.25, 0.25]


def test_simple_cnn_parameter_count_at_64_px() -> None:
    # 448 + 4,640 + (8,192 * 512 + 512) + 65,664 + 387
    assert count_parameters(build_model("simple_cnn", 3, image_size=64))[0] == 4_265_955


def test_study_mobilenet_parameter_count_at_224() -> None:
    with torch.device("meta"):  # 205.6M parameters: count them without allocating 0.8 GB
        model = build_model("study_mobilenet", 3, image_size=224)
    assert count_parameters(model) == (STUDY_MOBILENET_224, STUDY_MOBILENET_224)
    assert model.classifier[1].in_features == 256 * 28 * 28


def test_study_mobilenet_at_64_px() -> None:
    model = build_model("study_mobilenet", 3, image_size=64)
    assert count_parameters(model)[0] == STUDY_MOBILENET_64
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 3)


def test_study_mobilenet_odd_image_size_forwards() -> None:
    model = build_model("study_mobilenet", 2, image_size=50)  # 50 -> 25 -> 13 -> 7 (padded stride 2)
    assert model(torch.zeros(1, 3, 50, 50)).shape == (1, 2)


def test_study_mobilenet_blocks_are_depthwise_separable() -> None:
    model = build_model("study_mobilenet", 3, image_size=32)
    blocks = [block for block in model.features if isinstance(block, study_nets.DepthwiseSeparable)]
    assert [(b[0].stride[0], b[1].out_channels) for b in blocks] == [(1, 64), (2, 128), (1, 128), (2, 256)]
    for block in blocks:
        depthwise, pointwise, norm, activation = block
        assert depthwise.groups == depthwise.in_channels == depthwise.out_channels
        assert pointwise.kernel_size == (1, 1)
        assert isinstance(norm, nn.BatchNorm2d) and isinstance(activation, nn.ReLU)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.bias is not None for conv in convs)
    assert model.classifier[3].p == 0.5
