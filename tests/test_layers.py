"""Custom layers of ssgan.layers against NumPy references, their data-dependent init, and saving."""

import keras
import numpy as np
import pytest
from conftest import as_numpy

from ssgan import layers as L

ACTIVATIONS = {
    None: lambda a: a,
    "relu": lambda a: np.maximum(a, 0.0),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "tanh": np.tanh,
}


pytestmark = pytest.mark.usefixtures("keras_seed")


def _np(tensor):
    return as_numpy(tensor, np.float64)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _f32(array):
    return np.asarray(array, dtype=np.float32)


def _randomize_kernels(layers, seed=0):
    """Draw kernels with NumPy: Keras' random initializers compile slowly on JAX."""
    rng = _rng(seed)
    for layer in layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(_f32(rng.normal(scale=0.3, size=layer.kernel.shape)))


# --- NumPy references -----------------------------------------------------------------------------


def _np_conv2d(x, kernel, stride, padding):
    """Direct cross-correlation, channels last, with TensorFlow's "same" padding convention."""
    _, height, width, _ = x.shape
    kh, kw = kernel.shape[:2]
    if padding == "same":
        out_h, out_w = -(-height // stride), -(-width // stride)
        pad_h = max((out_h - 1) * stride + kh - height, 0)
        pad_w = max((out_w - 1) * stride + kw - width, 0)
        pads = ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
        x = np.pad(x, pads)
    else:
        out_h, out_w = (height - kh) // stride + 1, (width - kw) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j] = np.einsum("nhwc,hwcf->nf", patch, kernel)
    return out


def _np_minibatch_discrimination(x, kernel, bias):
    rows = np.einsum("na,abc->nbc", x, kernel)
    n = len(x)
    closeness = np.zeros((n, kernel.shape[1]))
    for i in range(n):
        for j in range(n):
            if j != i:
                closeness[i] += np.exp(-np.abs(rows[i] - rows[j]).sum(axis=-1))
    return np.concatenate([x, closeness + bias], axis=-1)


def _np_vbn(x, n_ref, gamma, beta, epsilon):
    """Each row normalized with the mean and variance of the virtual batch {reference rows, itself}.

    For images every example has the same number of pixels, so weighting each example 1/(n+1)
    equals pooling the pixels of the n reference images and of the example itself.
    """
    reference = x[:n_ref]
    stat_axes = tuple(range(x.ndim - 1))
    out = np.empty_like(x)
    for i, row in enumerate(x):
        virtual = np.concatenate([reference, row[None]], axis=0)
        mean, var = virtual.mean(axis=stat_axes), virtual.var(axis=stat_axes)
        out[i] = (row - mean) / np.sqrt(var + epsilon) * gamma + beta
    return out


# --- WeightNormDense / WeightNormConv2D -----------------------------------------------------------


@pytest.mark.parametrize(
    "activation, epsilon, input_shape",
    [
        (None, 1e-6, (5, 4)),
        ("relu", 1e-6, (5, 4)),
        ("sigmoid", 0.5, (5, 4)),
        ("tanh", 1e-6, (2, 3, 4)),
    ],
)
def test_weight_norm_dense_matches_numpy(activation, epsilon, input_shape):
    rng = _rng(1)
    x = rng.normal(size=input_shape)
    v, g, b = rng.normal(size=(4, 3)), rng.uniform(0.5, 2.0, size=3), rng.normal(size=3)
    layer = L.WeightNormDense(3, activation=activation, epsilon=epsilon, kernel_initializer="zeros")
    layer.build(input_shape)
    layer.kernel.assign(_f32(v))
    layer.scale.assign(_f32(g))
    layer.bias.assign(_f32(b))
    expected = ACTIVATIONS[activation](x @ v * g / np.sqrt((v**2).sum(axis=0) + epsilon) + b)
    actual = _np(layer(_f32(x)))
    assert actual.shape == layer.compute_output_shape(input_shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_weight_norm_dense_output_is_invariant_to_kernel_scale():
    x = _f32(_rng(2).normal(size=(6, 5)))
    layer = L.WeightNormDense(4, epsilon=0.0, kernel_initializer="zeros")
    layer.build(x.shape)
    _randomize_kernels([layer])
    before = _np(layer(x))
    layer.kernel.assign(layer.kernel * 7.0)
    np.testing.assert_allclose(_np(layer(x)), before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "strides, padding, kernel_size, activation",
    [
        (1, "same", 3, None),
        (2, "same", 3, "relu"),
        (2, "valid", 3, None),
        (1, "valid", (2, 3), None),
    ],
)
def test_weight_norm_conv2d_matches_numpy(strides, padding, kernel_size, activation):
    rng = _rng(3)
    x = rng.normal(size=(2, 5, 6, 3))
    layer = L.WeightNormConv2D(
        4, kernel_size, strides=strides, padding=padding, activation=activation,
        kernel_initializer="zeros",
    )
    layer.build(x.shape)
    kh, kw = layer.kernel_size
    v = rng.normal(size=(kh, kw, 3, 4))
    g, b = rng.uniform(0.5, 2.0, size=4), rng.normal(size=4)
    layer.kernel.assign(_f32(v))
    layer.scale.assign(_f32(g))
    layer.bias.assign(_f32(b))
    norm = np.sqrt((v**2).sum(axis=(0, 1, 2)) + layer.epsilon)
    expected = ACTIVATIONS[activation](_np_conv2d(x, v, strides, padding) * g / norm + b)
    actual = _np(layer(_f32(x)))
    assert actual.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def _stacked_weight_norm_model():
    """Weight-normalized layers with their activations kept separate, so a layer's output is its
    pre-activation."""
    zeros = dict(kernel_initializer="zeros")
    inputs = keras.Input((8, 8, 3))
    h = L.WeightNormConv2D(6, 3, name="conv_a", **zeros)(inputs)
    h = keras.layers.ReLU()(h)
    h = L.WeightNormConv2D(5, 3, strides=2, init_scale=0.5, name="conv_b", **zeros)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Flatten()(h)
    h = L.WeightNormDense(7, init_scale=2.0, train_scale=False, name="dense_a", **zeros)(h)
    h = keras.layers.ReLU()(h)
    outputs = L.WeightNormDense(3, name="dense_b", **zeros)(h)
    model = keras.Model(inputs, outputs)
    _randomize_kernels(model.layers)
    return model


def _pre_activation_stats(model, layer, x):
    pre = _np(keras.Model(model.input, layer.output)(x, training=False))
    axes = tuple(range(pre.ndim - 1))
    return pre.mean(axis=axes), pre.std(axis=axes)


def test_initialize_weight_norm_gives_zero_mean_and_init_scale_std_per_unit():
    model = _stacked_weight_norm_model()
    x = _f32(3.0 * _rng(4).normal(size=(64, 8, 8, 3)) + 1.0)
    normalized = [layer for layer in model.layers if isinstance(layer, (L.WeightNormDense, L.WeightNormConv2D))]
    assert len(normalized) == 4
    assert L.initialize_weight_norm(model, x, training=False) is model
    for layer in normalized:
        mean, std = _pre_activation_stats(model, layer, x)
        np.testing.assert_allclose(mean, 0.0, atol=1e-4 * layer.init_scale, err_msg=layer.name)
        np.testing.assert_allclose(std, layer.init_scale, rtol=1e-3, err_msg=layer.name)


def test_initialize_from_data_standardizes_the_pre_activation():
    x = _f32(2.0 * _rng(5).normal(size=(32, 6)) - 1.0)
    layer = L.WeightNormDense(4, activation="relu", init_scale=0.7, kernel_initializer="zeros")
    layer.build(x.shape)
    _randomize_kernels([layer])
    layer.initialize_from_data(x)
    kernel, scale, bias = (_np(w) for w in (layer.kernel, layer.scale, layer.bias))
    pre = x @ kernel * scale / np.sqrt((kernel**2).sum(axis=0) + layer.epsilon) + bias
    np.testing.assert_allclose(pre.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(pre.std(axis=0), 0.7, rtol=1e-4)


@pytest.mark.parametrize("use_bias", [True, False])
def test_initialize_from_data_returns_the_layers_output(use_bias):
    x = _f32(2.0 * _rng(5).normal(size=(32, 6)) - 1.0)
    layer = L.WeightNormDense(4, activation="relu", use_bias=use_bias, kernel_initializer="zeros")
    layer.build(x.shape)
    _randomize_kernels([layer])
    returned = _np(layer.initialize_from_data(x))
    np.testing.assert_allclose(returned, _np(layer(x)), rtol=1e-4, atol=1e-5)


# --- MinibatchDiscrimination ----------------------------------------------------------------------


def test_minibatch_discrimination_matches_numpy():
    rng = _rng(6)
    x = rng.normal(size=(6, 4))
    kernel, bias = 0.5 * rng.normal(size=(4, 3, 2)), rng.normal(size=3)
    layer = L.MinibatchDiscrimination(num_kernels=3, kernel_dim=2, kernel_initializer="zeros")
    layer.build(x.shape)
    layer.kernel.assign(_f32(kernel))
    layer.bias.assign(_f32(bias))
    actual = _np(layer(_f32(x)))
    assert actual.shape == layer.compute_output_shape(x.shape) == (6, 7)
    expected = _np_minibatch_discrimination(x, kernel, bias)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_minibatch_discrimination_separates_a_collapsed_batch_from_a_diverse_one():
    n = 8
    layer = L.MinibatchDiscrimination(num_kernels=5, kernel_dim=3, kernel_initializer="zeros")
    layer.build((None, 10))
    rng = _rng(7)
    layer.kernel.assign(_f32(rng.normal(size=(10, 5, 3))))
    collapsed = _f32(np.repeat(rng.normal(size=(1, 10)), n, axis=0))
    diverse = _f32(3.0 * rng.normal(size=(n, 10)))
    out_collapsed, out_diverse = _np(layer(collapsed)), _np(layer(diverse))
    # The input features pass through unchanged.
    np.testing.assert_allclose(out_collapsed[:, :10], collapsed)
    np.testing.assert_allclose(out_diverse[:, :10], diverse)
    # Identical rows: every other row is at distance 0, so c_b = n − 1; distant rows: c_b ≈ 0.
    np.testing.assert_allclose(out_collapsed[:, 10:], n - 1, rtol=1e-6)
    assert out_diverse[:, 10:].max() < 0.1


@pytest.mark.parametrize("coupling, expected", [
    (None, False),
    (lambda: L.MinibatchDiscrimination(num_kernels=2, kernel_dim=2), True),
    (keras.layers.BatchNormalization, True),
    (lambda: L.VirtualBatchNormalization(), False),  # its reference batch is fixed
])
def test_couples_batch_names_the_layers_that_mix_examples(coupling, expected):
    layers = [keras.Input((4,)), keras.layers.Dense(4)] + ([coupling()] if coupling else [])
    assert L.couples_batch(keras.Sequential(layers)) is expected


# --- ReferenceBatch / DropReference / VirtualBatchNormalization -----------------------------------


def test_reference_batch_prepends_and_drop_reference_removes_it():
    reference = _f32(_rng(8).normal(size=(3, 4)))
    x = _f32(_rng(9).normal(size=(2, 4)))
    prepend = L.ReferenceBatch(3, initializer="zeros")
    prepend.build((None, 4))
    prepend.set_reference(reference)
    stacked = _np(prepend(x))
    np.testing.assert_array_equal(stacked, np.concatenate([reference, x]))
    np.testing.assert_array_equal(_np(L.DropReference(3)(stacked)), x)
    assert prepend.compute_output_shape((2, 4)) == (5, 4)
    assert prepend.compute_output_shape((None, 4)) == (None, 4)
    assert L.DropReference(3).compute_output_shape((5, 4)) == (2, 4)
    assert not prepend.trainable_weights


def test_reference_batch_rejects_a_reference_of_the_wrong_shape():
    layer = L.ReferenceBatch(3, initializer="zeros")
    layer.build((None, 4))
    with pytest.raises(ValueError, match="shape"):
        layer.set_reference(np.zeros((2, 4), np.float32))


@pytest.mark.parametrize(
    "shape, n_ref, center, scale",
    [
        ((7, 4), 5, True, True),
        ((7, 4), 5, False, True),
        ((7, 4), 5, True, False),
        ((5, 4, 3, 2), 3, True, True),
    ],
)
def test_virtual_batch_normalization_matches_numpy(shape, n_ref, center, scale):
    rng = _rng(10)
    x = 2.0 * rng.normal(size=shape) + 1.5
    layer = L.VirtualBatchNormalization(n_ref, center=center, scale=scale)
    layer.build(shape)
    assert len(layer.weights) == int(center) + int(scale)
    gamma = rng.uniform(0.5, 2.0, size=shape[-1]) if scale else np.ones(shape[-1])
    beta = rng.normal(size=shape[-1]) if center else np.zeros(shape[-1])
    if scale:
        layer.gamma.assign(_f32(gamma))
    if center:
        layer.beta.assign(_f32(beta))
    expected = _np_vbn(x, n_ref, gamma, beta, layer.epsilon)
    np.testing.assert_allclose(_np(layer(_f32(x))), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(40, 4), (12, 3, 3, 2)])
def test_vbn_stays_accurate_when_the_mean_dwarfs_the_spread(shape):
    # E[h²] − μ² would lose every significant digit here in float32 (μ² ≈ 1e6, σ² ≈ 1).
    x = _rng(12).normal(size=shape) + 1000.0
    layer = L.VirtualBatchNormalization(8, center=False, scale=False)
    layer.build(shape)
    expected = _np_vbn(x, 8, np.ones(shape[-1]), np.zeros(shape[-1]), layer.epsilon)
    np.testing.assert_allclose(_np(layer(_f32(x))), expected, atol=5e-3)


def _vbn_model(reference, features_shape):
    inputs = keras.Input(features_shape)
    n = len(reference)
    h = L.ReferenceBatch(n, initializer="zeros", name="reference")(inputs)
    h = L.VirtualBatchNormalization(n)(h)
    model = keras.Model(inputs, L.DropReference(n)(h))
    model.get_layer("reference").set_reference(reference)
    return model


@pytest.mark.parametrize("features_shape", [(4,), (3, 3, 2)])
def test_vbn_output_of_an_example_ignores_the_rest_of_its_batch(features_shape):
    rng = _rng(11)
    model = _vbn_model(_f32(rng.normal(size=(6,) + features_shape)), features_shape)
    example = _f32(rng.normal(size=(1,) + features_shape))
    others = _f32(5.0 * rng.normal(size=(5,) + features_shape) + 3.0)
    alone = _np(model(example))[0]
    first = _np(model(np.concatenate([example, others[:2]])))[0]
    last = _np(model(np.concatenate([others[::-1], example])))[-1]
    np.testing.assert_allclose(first, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(last, alone, rtol=1e-5, atol=1e-6)
    model.get_layer("reference").set_reference(_f32(rng.normal(size=(6,) + features_shape) + 2.0))
    assert np.abs(_np(model(example))[0] - alone).max() > 0.1


def test_vbn_is_the_same_in_training_and_inference():
    rng = _rng(12)
    model = _vbn_model(_f32(rng.normal(size=(4, 3))), (3,))
    x = _f32(rng.normal(size=(5, 3)))
    np.testing.assert_array_equal(_np(model(x, training=True)), _np(model(x, training=False)))


# --- Serialization --------------------------------------------------------------------------------


def _layer_model(name):
    """A small functional model around one custom layer (or the reference trio), weights random."""
    zeros = "zeros"  # initial values are overwritten below
    if name == "weight_norm_dense":
        inputs = keras.Input((6,))
        outputs = L.WeightNormDense(
            4, activation="tanh", train_scale=False, init_scale=0.5, epsilon=1e-4,
            kernel_initializer=zeros, name="layer",
        )(inputs)
    elif name == "weight_norm_conv2d":
        inputs = keras.Input((7, 7, 2))
        outputs = L.WeightNormConv2D(
            3, (3, 2), strides=2, padding="valid", activation="relu", kernel_initializer=zeros,
            name="layer",
        )(inputs)
    elif name == "stop_gradient":
        inputs = keras.Input((6,))
        outputs = keras.layers.Dense(3, name="dense")(L.StopGradient(name="layer")(inputs))
    elif name == "minibatch_discrimination":
        inputs = keras.Input((6,))
        outputs = L.MinibatchDiscrimination(3, 2, kernel_initializer=zeros, name="layer")(inputs)
    else:
        shape = (5,) if name == "vbn_2d" else (4, 4, 2)
        inputs = keras.Input(shape)
        h = L.ReferenceBatch(3, initializer=zeros, name="reference")(inputs)
        h = L.VirtualBatchNormalization(3, epsilon=1e-3, center=True, scale=True, name="layer")(h)
        outputs = L.DropReference(3, name="drop")(h)
    model = keras.Model(inputs, outputs)
    rng = _rng(13)
    for weight in model.weights:
        weight.assign(_f32(keras.ops.convert_to_numpy(weight) + rng.normal(size=weight.shape)))
    return model


LAYER_MODELS = [
    "weight_norm_dense", "weight_norm_conv2d", "minibatch_discrimination", "vbn_2d", "vbn_4d",
    "stop_gradient",
]


@pytest.mark.parametrize("name", LAYER_MODELS)
def test_custom_layer_survives_a_keras_save_load_round_trip(name, tmp_path):
    model = _layer_model(name)
    x = _f32(_rng(14).normal(size=(4,) + tuple(model.input.shape[1:])))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-6, atol=1e-6)
    for original in model.layers:
        restored = loaded.get_layer(original.name)
        assert type(restored) is type(original)
        assert restored.get_config() == original.get_config()
        assert len(restored.trainable_weights) == len(original.trainable_weights)


@pytest.mark.parametrize(
    "layer",
    [
        L.WeightNormDense(4),
        L.WeightNormDense(
            4, activation="relu", use_bias=False, train_scale=False, init_scale=0.1, epsilon=1e-3,
            kernel_initializer="he_normal", bias_initializer="ones",
        ),
        L.WeightNormConv2D(3, 5),
        L.WeightNormConv2D(3, (3, 1), strides=(2, 1), padding="valid", activation="leaky_relu"),
        L.MinibatchDiscrimination(),
        L.MinibatchDiscrimination(7, 2, kernel_initializer="glorot_uniform"),
        L.ReferenceBatch(),
        L.ReferenceBatch(5, initializer=keras.initializers.RandomUniform(0.0, 1.0, seed=3)),
        L.DropReference(5),
        L.VirtualBatchNormalization(),
        L.VirtualBatchNormalization(5, epsilon=1e-3, center=False, scale=False),
        L.StopGradient(name="stop"),
        L.RandomShift(2, (5, 6, 1), seed=3),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_custom_layer_get_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    # Every documented argument survives, not only the ones left at their defaults.
    for key in (
        "units", "filters", "kernel_size", "strides", "padding", "num_kernels", "kernel_dim",
        "size", "reference_size", "epsilon", "center", "scale", "train_scale", "init_scale",
        "use_bias", "max_shift", "image_shape", "seed",
    ):
        if hasattr(layer, key):
            assert getattr(clone, key) == getattr(layer, key), key


def test_stop_gradient_is_the_identity_without_a_gradient():
    from ssgan.backends import get_backend

    x = _f32(_rng(15).normal(size=(4, 3)))
    np.testing.assert_array_equal(_np(L.StopGradient()(x)), x)
    value_and_grad = get_backend().value_and_grad

    def loss(params, stopped):
        h = keras.ops.multiply(params[0], x)
        h = L.StopGradient()(h) if stopped else h
        return keras.ops.sum(keras.ops.square(h)), ()

    for stopped, expected in ((False, 2.0 * np.sum(np.square(x))), (True, 0.0)):
        (_, _), grads = value_and_grad(loss)([keras.ops.convert_to_tensor(1.0)], stopped)
        # TensorFlow reports no gradient as None, JAX as zeros.
        grad = 0.0 if grads[0] is None else float(_np(grads[0]))
        assert grad == pytest.approx(expected, rel=1e-5, abs=1e-7)


# --- Random shift ---------------------------------------------------------------------------------


def _shifted(image, dy, dx):
    """`image` (H, W, C) moved down by dy and right by dx, zero-filled (NumPy reference)."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


@pytest.mark.parametrize("flat", [True, False])
def test_random_shift_moves_each_example_by_at_most_max_shift_and_is_off_in_inference(flat):
    shape = (5, 6, 2)
    images = _f32(_rng(16).uniform(0.1, 1.0, size=(64,) + shape))
    x = images.reshape(64, -1) if flat else images
    layer = L.RandomShift(2, shape, seed=4)
    np.testing.assert_array_equal(_np(layer(x)), x)
    out = _np(layer(x, training=True)).reshape(images.shape)
    seen = set()
    for image, moved in zip(images, out):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(moved, _shifted(image, dy, dx))]
        assert len(matches) == 1  # a pure shift: the distinct pixels make it unique
        seen.add(matches[0])
    assert len(seen) > 10  # the 25 moves are drawn, not one for the whole batch


def test_random_shift_rejects_a_shape_that_is_not_an_image():
    with pytest.raises(ValueError, match="image_shape"):
        L.RandomShift(2, (784,))
    with pytest.raises(ValueError, match="max_shift"):
        L.RandomShift(-1, (4, 4, 1))
