"""The model zoo: every family builds and trains at small and large sizes, published sizes, and the knobs."""

from __future__ import annotations

import random
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from autorecipe import AutorecipeError, Recipe
from autorecipe.architecture.registry import MODELS, honoured_by
from autorecipe.architecture.blocks import ColourStem, LayerNorm2d, SqueezeExcite, StridedPointwise
from autorecipe.architecture.blocks import DropPath, drop_path_rates
from autorecipe.architecture.densenet import DenseLayer
from autorecipe.architecture.preact_resnet import PreActBlock
from autorecipe.knobs import Choice, IntRange, registry
from autorecipe.training.classifier import Classifier

TINY = {"width": 0.0625, "depth": 0.1}  # the fewest blocks and channels each family allows
SIZES = [(channels, size) for size in (28, 32, 64, 224) for channels in (1, 3)]  # 224 px: the ImageNet stems
NORMALIZATIONS = ("batch", "group", "layer", "none")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread: more threads only wait for each other, the more on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def forward_backward(net: nn.Module, channels: int, size: int, classes: int = 5) -> None:
    out = net(torch.rand(2, channels, size, size))
    assert out.shape == (2, classes)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@contextmanager
def inputs_kept(net: nn.Module):
    """Fail if a layer, other than an in-place activation itself, changes its input in place (a shortcut,
    a concatenation or autograd may still need it)."""
    versions: dict[int, list[int]] = {}

    def before(module, args):
        versions[id(module)] = [a._version for a in args if isinstance(a, torch.Tensor)]

    def after(module, args, out):
        now = [a._version for a in args if isinstance(a, torch.Tensor)]
        assert now == versions[id(module)], f"{type(module).__name__} changed its input in place"

    layers = [m for m in net.modules() if not getattr(m, "inplace", False)]
    handles = [h for m in layers for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_runs_forward_and_backward_on_1_and_3_channels_at_small_and_imagenet_sizes(model):
    for channels, size in SIZES:
        net = Classifier(Recipe().with_values({"model": model, **TINY}), 5, channels, size)
        forward_backward(net, channels, size)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_trains_with_every_normalization_and_no_layer_overwrites_its_input(model, normalization):
    """In-place activations (ReLU, as chosen or as the family's own, also in pooling convolutions) stay safe
    without a norm layer before them."""
    for values in ({}, {"activation": "relu", "pooling": "conv"}):
        recipe = Recipe().with_values({"model": model, "normalization": normalization, **values, **TINY})
        net = Classifier(recipe, 5, 3, 32)
        with inputs_kept(net):
            forward_backward(net, 3, 32)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("model", ["preact_resnet18", "wrn28_2"])
def test_pre_activation_identity_shortcuts_carry_the_input_itself(model, normalization):
    net = build(model=model, normalization=normalization).eval()
    block = next(m for m in net.modules() if isinstance(m, PreActBlock) and m.project is None)
    with torch.no_grad():
        for p in block.body.parameters():
            p.zero_()  # the residual branch adds nothing: the block's output is its shortcut
        x = torch.randn(2, block.body[0].in_channels, 8, 8)
        assert torch.equal(block(x.clone()), x)  # not activation(x)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_dense_layers_pass_their_input_on_unchanged(normalization):
    net = build(model="densenet_bc", normalization=normalization, activation="relu").eval()
    layer = next(m for m in net.modules() if isinstance(m, DenseLayer))
    x = torch.randn(2, layer.body[2].in_channels, 8, 8)
    with torch.no_grad():
        assert torch.equal(layer(x.clone())[:, :x.shape[1]], x)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_starts_with_small_class_scores(model):
    """Near-uniform predictions at initialization: large initial logits make the first epochs diverge."""
    torch.manual_seed(0)
    net = Classifier(Recipe().with_values({"model": model}), 10, 3, 32).train()
    with torch.no_grad():
        scores = net(torch.rand(32, 3, 32, 32))
    assert scores.std() < 0.9


@pytest.mark.parametrize("model, classes, size, published", [
    ("resnet18", 1000, 224, 11.7e6), ("resnet50", 1000, 224, 25.6e6), ("mobilenetv2", 1000, 224, 3.5e6),
    ("efficientnet_b0", 1000, 224, 5.3e6), ("wrn28_2", 10, 32, 1.5e6), ("vit_small", 1000, 224, 22e6),
])
def test_standard_configurations_have_their_published_parameter_counts(model, classes, size, published):
    recipe = Recipe().with_values({"model": model, "width": 1.0, "patch_size": 16 if model == "vit_small" else 0})
    net = Classifier(recipe, classes, 3, size)
    assert abs(n_params(net) - published) / published < 0.10


def test_any_combination_the_search_samples_builds_and_trains_for_the_searched_models():
    knobs = [k for k in registry().values() if k.search is not None and k.name != "model"
             and (k.bucket == "architecture" or k.name in ("init", "zero_init_residual"))]
    rng = random.Random(0)
    for model in registry()["model"].search.options:
        for _ in range(2):
            values = {k.name: rng.choice(k.search.options) if isinstance(k.search, Choice)
                      else rng.randint(k.search.low, k.search.high) if isinstance(k.search, IntRange)
                      else rng.uniform(k.search.low, k.search.high) for k in knobs}
            values.update(TINY)
            net = Classifier(Recipe().with_values({"model": model, **values}), 3, 1, 8)
            forward_backward(net, 1, 8, classes=3)


def build(size: int = 32, **values) -> nn.Module:
    return Classifier(Recipe().with_values({"width": 0.125, **values}), 4, 3, size).network


def kinds(net: nn.Module) -> set[type]:
    return {type(m) for m in net.modules()}


def test_activation_normalization_and_pooling_knobs_reach_the_layers():
    assert nn.GELU in kinds(build(model="resnet18", activation="gelu")) and nn.ReLU not in kinds(
        build(model="resnet18", activation="gelu"))
    assert nn.GroupNorm in kinds(build(model="vgg11", normalization="group"))
    assert LayerNorm2d in kinds(build(model="resnet9", normalization="layer"))
    assert not kinds(build(model="fastnet", normalization="none")) & {nn.BatchNorm2d, nn.GroupNorm, LayerNorm2d}
    assert nn.AvgPool2d in kinds(build(model="vgg11", pooling="avg"))
    assert nn.MaxPool2d not in kinds(build(model="resnet9", pooling="conv"))
    assert nn.SiLU in kinds(build(model="efficientnet_b0"))  # auto: the family's own


def test_squeeze_excite_head_and_flattened_knobs():
    assert SqueezeExcite in kinds(build(model="resnet18", squeeze_excite="on"))
    assert SqueezeExcite not in kinds(build(model="efficientnet_b0", squeeze_excite="off"))
    assert SqueezeExcite in kinds(build(model="efficientnet_b0"))
    head = build(model="resnet18", head="fullconv")[-1]
    assert any(isinstance(m, nn.Conv2d) and m.out_channels == 4 for m in head.modules())
    assert isinstance(build(model="resnet18", head="max")[-1][0], nn.AdaptiveMaxPool2d)
    kernels = {m.kernel_size for m in build(model="vgg11", flattened=True).modules() if isinstance(m, nn.Conv2d)}
    assert kernels == {(3, 1), (1, 3)}


def test_depth_stem_stride_and_image_size_shape_the_network():
    blocks = lambda net: sum(type(m).__name__ == "BasicBlock" for m in net.modules())  # noqa: E731
    assert blocks(build(model="resnet18")) == 8 and blocks(build(model="resnet18", depth=2.0)) == 16
    assert blocks(build(model="resnet34")) == 16
    x = torch.rand(1, 3, 32, 32)
    assert build(model="resnet18")[0](x).shape[-1] == 32
    assert build(model="resnet18", stem_stride=2)[0](x).shape[-1] == 16
    assert build(112, model="resnet18")[0](torch.rand(1, 3, 112, 112)).shape[-1] == 28  # the ImageNet stem


def test_vit_patch_size_sets_the_tokens_and_a_patch_larger_than_the_image_is_an_error():
    embed = build(model="vit_tiny", patch_size=8)[0]
    assert embed(torch.rand(1, 3, 32, 32)).shape[1] == 16 + 1
    assert build(model="vit_tiny")[0](torch.rand(1, 3, 32, 32)).shape[1] == 64 + 1  # automatic: side / 8
    with pytest.raises(AutorecipeError, match="patch_size 16 is larger than the 8 px images"):
        Classifier(Recipe().with_values({"model": "vit_tiny", "patch_size": 16}), 4, 1, 8)


def test_colour_stem_starts_as_the_identity():
    net = Classifier(Recipe().with_values({"colour_stem": True, "width": 0.125}), 4, 3, 32)
    assert isinstance(net.colour, ColourStem)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(net.colour(x), x)


def test_initializations():
    torch.manual_seed(0)
    he = build(model="resnet18", init="he")[1].body[0][0].weight
    xavier = build(model="resnet18", init="xavier")[1].body[0][0].weight
    default = build(model="resnet18")[1].body[0][0].weight
    fan_in = fan_out = he.shape[0] * 9  # a 3x3 convolution with as many inputs as outputs
    assert he.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    xavier_std = (2 / (fan_in + fan_out)) ** 0.5  # Glorot uniform: bound sqrt(6 / (fan_in + fan_out))
    assert xavier.std().item() == pytest.approx(xavier_std, rel=0.1)
    assert xavier.abs().max().item() <= (6 / (fan_in + fan_out)) ** 0.5
    assert default.std().item() < 0.7 * xavier_std  # PyTorch's own: std 1 / sqrt(3 fan_in), 0.58x Glorot's
    conv = build(model="resnet18", init="dirac")[1].body[0][0]
    x = torch.rand(1, conv.in_channels, 6, 6)
    assert (conv(x) - x).abs().mean() < 0.2 * x.abs().mean()  # an identity map plus small noise


def test_zero_init_residual_makes_residual_blocks_start_as_identities():
    net = build(model="resnet18", zero_init_residual=True).eval()
    block = net[1]
    x = torch.rand(2, block.body[0][0].in_channels, 8, 8)
    assert torch.equal(block(x), torch.relu(x))
    marked = [m for m in net.modules() if getattr(m, "residual_end", False)]
    assert len(marked) == 8 and all(m.weight.abs().sum() == 0 for m in marked)


def test_family_knobs_say_which_models_apply_them():
    assert "vit_small" in honoured_by("patch_size") and "resnet18" not in honoured_by("patch_size")
    for entry in MODELS.values():  # a model lists only architecture knobs it applies
        assert all(registry()[name].bucket == "architecture" for name in entry.knobs), entry.name
    assert "resnet9" in honoured_by("pooling") and "resnet18" not in honoured_by("pooling")


def test_unknown_model_names_are_errors_with_a_suggestion():
    pattern = r"architecture.model: 'resnet_50' is not valid.*package.module:factory.*did you mean resnet50\?"
    with pytest.raises(AutorecipeError, match=pattern):
        Recipe().with_values({"model": "resnet_50"})


def test_drop_path_drops_whole_samples_in_training_only():
    torch.manual_seed(0)
    drop = DropPath(0.25)
    x = torch.ones(4000, 3, 2, 2)
    y = drop(x)
    dropped = (y.flatten(1) == 0).all(1)
    assert 0.2 < dropped.float().mean() < 0.3
    assert torch.allclose(y[~dropped], torch.full_like(y[~dropped], 1 / 0.75))
    drop.eval()
    assert torch.equal(drop(x), x)
    assert drop_path_rates(0.2, 3) == [0.0, 0.1, 0.2]


def test_recipe_dropout_and_drop_path_reach_the_network():
    net = Classifier(Recipe().with_values({"dropout": 0.3, "drop_path": 0.2, "model": "resnet18"}), 3, 3, 32)
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.3]
    rates = [m.p for m in net.modules() if isinstance(m, DropPath)]
    assert len(rates) == 8 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)


def test_strided_pointwise_convolution_matches_a_strided_conv_and_trains_channels_last():
    strided = StridedPointwise(8, 16, 2)
    reference = nn.Conv2d(8, 16, 1, 2, bias=False)
    reference.load_state_dict(strided.state_dict())
    x = torch.rand(2, 8, 57, 57)
    assert torch.allclose(strided(x), reference(x), atol=1e-6)
    # the shape on which PyTorch 2.13's own channels-last backward crashes the process
    x = torch.rand(2, 8, 56, 56).to(memory_format=torch.channels_last).requires_grad_()
    strided.to(memory_format=torch.channels_last)(x).sum().backward()
    assert x.grad.shape == x.shape
