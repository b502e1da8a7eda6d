"""inr.nn modules: shapes, checkpoints, tiny-cuda-nn configs, gradients, backends."""
from __future__ import annotations

import io

import pytest
import torch

from inr import _native
from inr.nn import MLP, Field, HashGrid, from_tcnn_config

SMALL_GRID = {"otype": "HashGrid", "n_levels": 4, "n_features_per_level": 2, "log2_hashmap_size": 10,
              "base_resolution": 8, "per_level_scale": 1.5}

# tiny-cuda-nn sample configs (config_hash.json and the instant-ngp image/NeRF style).
TCNN_ENCODINGS = [
    {"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2, "log2_hashmap_size": 15,
     "base_resolution": 16, "per_level_scale": 1.5},
    {"otype": "Grid", "type": "Hash", "n_levels": 8, "n_features_per_level": 4, "log2_hashmap_size": 12,
     "base_resolution": 4, "per_level_scale": 2.0, "interpolation": "Smoothstep"},
    {"otype": "DenseGrid", "n_levels": 3, "n_features_per_level": 1, "base_resolution": 8,
     "per_level_scale": 2.0, "interpolation": "Nearest"},
]
TCNN_NETWORKS = [
    {"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None", "n_neurons": 64,
     "n_hidden_layers": 2},
    {"otype": "CutlassMLP", "activation": "Tanh", "output_activation": "Sigmoid", "n_neurons": 32,
     "n_hidden_layers": 1},
    {"otype": "FullyFusedMLP", "activation": "Sine", "n_neurons": 16, "n_hidden_layers": 3},
    None,  # defaults
]


def _round_trip(module: torch.nn.Module, fresh: torch.nn.Module) -> torch.nn.Module:
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    data = buffer.getvalue()
    assert len(data) > 0
    fresh.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
    return fresh


# ---- shapes -------------------------------------------------------------------------

@pytest.mark.parametrize("n_dims", (2, 3))
@pytest.mark.parametrize("batch_shape", ((7,), (3, 5), (2, 3, 4), (0,)))
def test_hash_grid_shapes(n_dims, batch_shape):
    grid = HashGrid(n_dims, SMALL_GRID)
    assert grid.n_input_dims == n_dims and grid.n_output_dims == 8
    assert grid.params.shape == (grid.config.n_params,)
    assert grid.params.abs().max() <= 1e-4  # tcnn init: uniform in [-1e-4, 1e-4]
    out = grid(torch.rand(*batch_shape, n_dims))
    assert out.shape == (*batch_shape, 8) and out.dtype == torch.float32


def test_hash_grid_overrides_and_repr():
    grid = HashGrid(2, SMALL_GRID, n_levels=6, interpolation="smoothstep")
    assert grid.config.n_levels == 6 and grid.config.interpolation == "Smoothstep"
    assert grid.n_output_dims == 12
    assert "n_levels=6" in repr(grid)


def test_hash_grid_rejects_wrong_last_dim():
    with pytest.raises(ValueError, match=r"HashGrid expects \[\.\.\., 2\] inputs, got \[4, 3\]"):
        HashGrid(2, SMALL_GRID)(torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"unknown keys"):
        HashGrid(2, {"n_levelz": 3})
    with pytest.raises(ValueError, match=r"n_input_dims must be 2 or 3"):
        HashGrid(4, SMALL_GRID)


@pytest.mark.parametrize("depth", (0, 1, 3))
def test_mlp_shapes(depth):
    mlp = MLP(5, 3, n_neurons=16, n_hidden_layers=depth)
    assert mlp.n_input_dims == 5 and mlp.n_output_dims == 3
    assert len(mlp.layers) == depth + 1
    assert all(layer.bias is None for layer in mlp.layers)  # tcnn: no biases
    assert mlp(torch.rand(11, 5)).shape == (11, 3)
    assert mlp(torch.rand(2, 4, 5)).shape == (2, 4, 3)
    assert MLP(5, 3, bias=True).layers[0].bias is not None


@pytest.mark.parametrize("kwargs,match", [
    ({"n_neurons": 0}, r"n_neurons must be an integer >= 1"),
    ({"n_hidden_layers": -1}, r"n_hidden_layers must be an integer >= 0"),
    ({"n_neurons": 3.5}, r"n_neurons"),
    ({"activation": "Swish"}, r"unknown activation 'Swish'"),
    ({"output_activation": "Gelu"}, r"unknown activation 'Gelu'"),
])
def test_mlp_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(4, 2, **kwargs)


def test_field_shapes_and_mismatch():
    field = Field(HashGrid(2, SMALL_GRID), MLP(8, 3, n_neurons=16))
    assert field.n_input_dims == 2 and field.n_output_dims == 3
    assert field(torch.rand(4, 6, 2)).shape == (4, 6, 3)
    with pytest.raises(ValueError, match=r"encoding gives 8 features but the network takes 9"):
        Field(HashGrid(2, SMALL_GRID), MLP(9, 3))


# ---- checkpoints ------------------------------------------------------------------------

def test_state_dict_round_trip_field():
    torch.manual_seed(0)
    field = Field(HashGrid(2, SMALL_GRID), MLP(8, 3, n_neurons=16))
    with torch.no_grad():
        field.encoding.params.uniform_(-1, 1)  # make the grid matter
    fresh = _round_trip(field, Field(HashGrid(2, SMALL_GRID), MLP(8, 3, n_neurons=16)))
    x = torch.rand(200, 2)
    assert torch.equal(field(x), fresh(x))
    assert set(field.state_dict()) == {"encoding.params", "network.layers.0.weight", "network.layers.1.weight",
                                       "network.layers.2.weight"}


def test_state_dict_round_trip_from_tcnn_config():
    encoding, network = TCNN_ENCODINGS[0], TCNN_NETWORKS[0]
    model = from_tcnn_config(3, 4, encoding, network)
    with torch.no_grad():
        model.encoding.params.normal_()
    fresh = _round_trip(model, from_tcnn_config(3, 4, encoding, network))
    x = torch.rand(100, 3)
    assert torch.equal(model(x), fresh(x))


def test_state_dict_rejects_other_layout():
    grid = HashGrid(2, SMALL_GRID)
    other = HashGrid(2, {**SMALL_GRID, "n_levels": 5})
    with pytest.raises(RuntimeError, match="size mismatch"):
        other.load_state_dict(grid.state_dict())


# ---- tiny-cuda-nn configs --------------------------------------------------------------------

@pytest.mark.parametrize("encoding", TCNN_ENCODINGS)
@pytest.mark.parametrize("network", TCNN_NETWORKS)
def test_from_tcnn_config(encoding, network):
    model = from_tcnn_config(2, 3, encoding, network)
    assert isinstance(model, Field)
    assert isinstance(model.encoding, HashGrid) and isinstance(model.network, MLP)
    n_encoded = encoding["n_levels"] * encoding["n_features_per_level"]
    assert model.encoding.n_output_dims == model.network.n_input_dims == n_encoded
    network = network or {}
    assert len(model.network.layers) == network.get("n_hidden_layers", 2) + 1
    assert model.network.layers[0].out_features == network.get("n_neurons", 64)
    assert model.encoding.config.dense == (encoding["otype"] == "DenseGrid")
    assert model(torch.rand(10, 2)).shape == (10, 3)


def test_from_tcnn_config_does_not_mutate_its_inputs():
    encoding, network = dict(TCNN_ENCODINGS[1]), dict(TCNN_NETWORKS[0])
    from_tcnn_config(2, 1, encoding, network)
    assert encoding == TCNN_ENCODINGS[1] and network == TCNN_NETWORKS[0]


@pytest.mark.parametrize("encoding,network,match", [
    ({"otype": "Frequency", "n_frequencies": 12}, None, r"unsupported tiny-cuda-nn encoding otype 'Frequency'"),
    ({"otype": "OneBlob"}, None, r"encoding otype 'OneBlob'"),
    (SMALL_GRID, {"otype": "ResNet"}, r"unsupported tiny-cuda-nn network otype 'ResNet'"),
    (SMALL_GRID, {"otype": "FullyFusedMLP", "n_neurons": 64, "feedback_alignment": True},
     r"unknown network config keys \['feedback_alignment'\]"),
    ({**SMALL_GRID, "n_lvls": 3}, None, r"unknown keys \['n_lvls'\]"),
    (SMALL_GRID, {"otype": "FullyFusedMLP", "activation": "Swish"}, r"unknown activation 'Swish'"),
])
def test_from_tcnn_config_errors(encoding, network, match):
    with pytest.raises(ValueError, match=match):
        from_tcnn_config(2, 3, encoding, network)


# ---- gradients and backends ------------------------------------------------------------------

@pytest.mark.parametrize("backend", (None, "torch"))
def test_gradient_reaches_every_parameter(backend):
    torch.manual_seed(1)
    model = from_tcnn_config(2, 3, SMALL_GRID, {"otype": "FullyFusedMLP", "n_neurons": 16, "n_hidden_layers": 2})
    model.encoding.backend = backend
    with torch.no_grad():
        model.encoding.params.uniform_(-0.1, 0.1)
    x = torch.rand(2000, 2, requires_grad=True)
    (model(x) ** 2).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, f"no gradient reached {name}"
        assert torch.isfinite(param.grad).all(), name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_every_grid_level_gets_gradient():
    grid = HashGrid(2, SMALL_GRID)
    grid(torch.rand(3000, 2)).sum().backward()
    config = grid.config
    for level, (_, size, _, offset) in enumerate(config.level_meta.tolist()):
        F = config.n_features_per_level
        chunk = grid.params.grad[offset * F:(offset + size) * F]
        assert chunk.abs().sum() > 0, f"level {level} got no gradient"


@pytest.mark.skipif(_native.cpu is None, reason="native CPU backend not built")
@pytest.mark.parametrize("interpolation", ("Nearest", "Linear", "Smoothstep"))
def test_hash_grid_torch_backend_equals_native(interpolation):
    torch.manual_seed(2)
    native = HashGrid(3, {**SMALL_GRID, "interpolation": interpolation}, backend="native")
    with torch.no_grad():
        native.params.uniform_(-1, 1)
    ref = HashGrid(3, {**SMALL_GRID, "interpolation": interpolation}, backend="torch")
    ref.load_state_dict(native.state_dict())
    x = torch.rand(500, 3)
    cotangent = torch.randn(500, native.n_output_dims)
    outputs = []
    for module in (native, ref):
        xi = x.clone().requires_grad_(True)
        out = module(xi)
        grads = torch.autograd.grad(out, (xi, module.params), cotangent, allow_unused=True)
        outputs.append((out, grads[0] if grads[0] is not None else torch.zeros_like(xi), grads[1]))
    # float32 native vs reference, same metric and tolerance as tests/test_hash_grid.py
    for a, b in zip(*outputs):
        scale = b.abs().max().clamp_min(1e-30)
        assert ((a - b).abs().max() / scale).item() <= 1e-5


def test_double_precision_module():
    grid = HashGrid(2, SMALL_GRID).double()
    out = grid(torch.rand(10, 2))  # float32 inputs are cast to the table's dtype
    assert out.dtype == torch.float64
