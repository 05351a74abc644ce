"""Keras 3 layers of the Improved-GAN recipe (Salimans et al. 2016), written with `keras.ops` only.

- `WeightNormDense`, `WeightNormConv2D`: weight normalization (Salimans & Kingma 2016) with the
  data-dependent initialization the Improved-GAN code uses (`initialize_weight_norm`).
- `MinibatchDiscrimination` (paper §3.2).
- `VirtualBatchNormalization` with `ReferenceBatch` / `DropReference` (paper §3.4).
- `StopGradient`: identity forward, no gradient backward (InfoGAN's Q on the class logits).

Gaussian noise is Keras' own `keras.layers.GaussianNoise`.
"""

import keras
from keras import ops

_PACKAGE = "ssgan"


def _norm_scale(kernel, scale, axes, epsilon):
    """scale / ||kernel||, the per-output factor that turns `kernel` into a weight-normalized one."""
    return scale / ops.sqrt(ops.sum(ops.square(kernel), axis=axes) + epsilon)


class _WeightNorm(keras.layers.Layer):
    """What the weight-normalized layers share: a kernel v, one scale g per output (fixed or
    trained), an optional bias b, y = act(g · (x ⊛ v) / ||v|| + b), and the data-dependent
    initialization of the Improved-GAN code.

    Salimans & Kingma (2016), §2.2: run a batch through the freshly built layer, then choose the
    scale g and bias b so that each output unit's pre-activation has zero mean and standard deviation
    `init_scale` on that batch: g <- g * init_scale / std, b <- -mean * init_scale / std.
    Subclasses give the kernel's shape (`_kernel_shape`), the normalized product
    (`_pre_activation`) and the axes of an output unit's statistics (`_stat_axes`).
    """

    _stat_axes = (0,)
    _default_kernel_stddev = 0.1

    def __init__(self, activation=None, use_bias=True, train_scale=True, init_scale=1.0,
                 epsilon=1e-6, kernel_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.train_scale = train_scale
        self.init_scale = float(init_scale)
        self.epsilon = float(epsilon)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=self._default_kernel_stddev)
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        shape = self._kernel_shape(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=shape,
                                      initializer=self.kernel_initializer)
        self.scale = self.add_weight(name="scale", shape=shape[-1:], initializer="ones",
                                     trainable=self.train_scale)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=shape[-1:],
                                        initializer=self.bias_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=self.input_spec.ndim,
                                                 min_ndim=self.input_spec.min_ndim,
                                                 axes={-1: input_shape[-1]})

    def _normalized(self, outputs):
        # Scaling the product rather than the kernel gives the same result with one multiply per
        # output instead of one per weight.
        axes = tuple(range(len(self.kernel.shape) - 1))
        return outputs * _norm_scale(self.kernel, self.scale, axes, self.epsilon)

    def call(self, inputs):
        outputs = self._pre_activation(inputs)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def initialize_from_data(self, inputs):
        """Set scale and bias from the statistics of `inputs`; return the layer's output on them."""
        pre_activation = self._pre_activation(ops.convert_to_tensor(inputs, self.compute_dtype))
        mean = ops.mean(pre_activation, axis=self._stat_axes)
        centered = pre_activation - mean
        std = ops.sqrt(ops.mean(ops.square(centered), axis=self._stat_axes) + 1e-12)
        inv_std = self.init_scale / std
        self.scale.assign(self.scale * inv_std)
        if not self.use_bias:  # nothing can remove the mean
            return self.activation(pre_activation * inv_std)
        self.bias.assign(-mean * inv_std)
        return self.activation(centered * inv_std)

    def get_config(self):
        return {
            **super().get_config(),
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "train_scale": self.train_scale,
            "init_scale": self.init_scale,
            "epsilon": self.epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WeightNormDense(_WeightNorm):
    """Dense layer with weight normalization: y = act(g * (x·v) / ||v|| + b), one g per unit.

    Args:
        units: number of output units.
        activation: activation applied to the output.
        use_bias: whether the layer has a bias b.
        train_scale: whether g is trained. The Improved-GAN MNIST discriminator fixes g of its
            hidden layers at the value the data-dependent initialization gives and trains only the
            output layer's g.
        init_scale: target standard deviation of the pre-activation at data-dependent init.
        epsilon: added to ||v||² so that an all-zero column cannot divide by zero.
        kernel_initializer, bias_initializer: initializers of v and b (g starts at 1).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def _kernel_shape(self, input_dim):
        return (input_dim, self.units)

    def _pre_activation(self, inputs):
        return self._normalized(ops.matmul(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WeightNormConv2D(_WeightNorm):
    """2-D convolution (channels last) with weight normalization, one scale g per output filter.

    Args:
        filters, kernel_size, strides, padding: as in `keras.layers.Conv2D`.
        Other arguments: as in `WeightNormDense`.
    """

    _stat_axes = (0, 1, 2)
    _default_kernel_stddev = 0.05

    def __init__(self, filters, kernel_size, strides=1, padding="same", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.filters)

    def _pre_activation(self, inputs):
        return self._normalized(
            ops.conv(inputs, self.kernel, strides=self.strides, padding=self.padding)
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch,) + tuple(
            _conv_length(n, k, s, self.padding)
            for n, k, s in zip((height, width), self.kernel_size, self.strides)
        ) + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
        }


def _pair(value):
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _conv_length(length, kernel, stride, padding):
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


def initialize_weight_norm(model, inputs, training=True):
    """Data-dependent initialization of every weight-normalized layer of a functional `model`.

    Layers are initialized in topological order, each on the output its predecessors give *after*
    their own initialization, so every pre-activation ends with zero mean and unit variance on
    `inputs`. With `training=True` the noise layers are on, as in the Improved-GAN code.
    """
    normalized = [layer for layer in model.layers if isinstance(layer, _WeightNorm)]
    for layer in normalized:
        upstream = keras.Model(model.input, layer.input)
        layer.initialize_from_data(upstream(inputs, training=training))
    return model


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MinibatchDiscrimination(keras.layers.Layer):
    """Minibatch discrimination (Salimans et al. 2016, §3.2).

    Each example's features f(x_i) ∈ R^A are projected by a tensor T ∈ R^{A×B×C} to rows
    M_i ∈ R^{B×C}; for each of the B kernels, c_b(x_i) = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖₁) measures
    how close x_i is to the rest of its minibatch. The output is [f(x_i), c(x_i) + bias]: a batch of
    near-identical examples (a collapsed generator) gets large c_b, a diverse one small c_b.

    The self-term j = i (always exp(0) = 1) is left out, as in the reference code.

    Args:
        num_kernels: B, the number of closeness features appended.
        kernel_dim: C, the dimension of each projected row.
    """

    def __init__(self, num_kernels=100, kernel_dim=5, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_kernels = int(num_kernels)
        self.kernel_dim = int(kernel_dim)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=0.05)
        )
        self.input_spec = keras.layers.InputSpec(ndim=2)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.num_kernels, self.kernel_dim),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.num_kernels,), initializer="zeros")

    def call(self, inputs):
        rows = ops.einsum("na,abc->nbc", inputs, self.kernel)
        # (n, 1, B, C) - (1, n, B, C), L1 over C: pairwise distances of shape (n, n, B).
        distances = ops.sum(ops.abs(rows[:, None] - rows[None, :]), axis=-1)
        closeness = ops.sum(ops.exp(-distances), axis=1) - 1.0  # drop exp(0) of j = i
        return ops.concatenate([inputs, closeness + self.bias], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] + self.num_kernels)

    def get_config(self):
        return {
            **super().get_config(),
            "num_kernels": self.num_kernels,
            "kernel_dim": self.kernel_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def couples_batch(model):
    """Whether an example's output from `model` depends on the rest of its batch: it holds
    minibatch discrimination or batch normalization."""
    coupling = (MinibatchDiscrimination, keras.layers.BatchNormalization)
    return any(isinstance(layer, coupling) for layer in model.layers)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ReferenceBatch(keras.layers.Layer):
    """Prepends a fixed reference batch to its input, for the `VirtualBatchNormalization` below it.

    The reference batch is a non-trainable weight: drawn from `initializer` when built (the latent
    noise of a generator), or set to real examples with `set_reference` before training starts (a
    discriminator). It is saved with the model, so a reloaded model normalizes exactly as before.
    """

    def __init__(self, size=64, initializer="random_uniform", **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.reference = self.add_weight(
            name="reference",
            shape=(self.size,) + tuple(input_shape[1:]),
            initializer=self.initializer,
            trainable=False,
        )

    def set_reference(self, examples):
        """Fix the reference batch to `examples` (exactly `size` of them)."""
        examples = ops.convert_to_tensor(examples, self.reference.dtype)
        if tuple(examples.shape) != tuple(self.reference.shape):
            raise ValueError(
                f"The reference batch must have shape {tuple(self.reference.shape)}, "
                f"got {tuple(examples.shape)}."
            )
        self.reference.assign(examples)

    def call(self, inputs):
        return ops.concatenate([ops.cast(self.reference, inputs.dtype), inputs], axis=0)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] + self.size
        return (batch,) + tuple(input_shape[1:])

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DropReference(keras.layers.Layer):
    """Removes the `size` reference rows that a `ReferenceBatch` layer prepended."""

    def __init__(self, size=64, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, inputs):
        return inputs[self.size :]

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] - self.size
        return (batch,) + tuple(input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _shift_matrices(shifts, size, dtype):
    """(n, size, size) 0/1 matrices M with M[i, j] = 1 where j = i − shift: M @ v moves v by
    `shift` places, zero-filled (rows whose source is outside the image are all zero)."""
    source = ops.arange(size)[None, :] - shifts[:, None]
    inside = ops.logical_and(source >= 0, source < size)
    one_hot = ops.one_hot(ops.clip(source, 0, size - 1), size, dtype=dtype)
    return one_hot * ops.cast(inside, dtype)[..., None]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomShift(keras.layers.Layer):
    """Moves each image by a random whole number of pixels, up to `max_shift` each way along
    height and width, zero-filled; active in training only, as the noise layers are.

    The discriminator sees its real and generated inputs moved alike, and the consistency term
    then asks for the same class under two moves: translation, the augmentation that MNIST
    classifiers gain most from. `image_shape` is (height, width, channels); the input is either
    that or its flattening (the MLP's rows), and comes out the same way.
    """

    def __init__(self, max_shift, image_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = int(max_shift)
        self.image_shape = tuple(int(d) for d in image_shape)
        if self.max_shift < 0 or len(self.image_shape) != 3:
            raise ValueError(f"RandomShift needs max_shift >= 0 and image_shape=(height, width, "
                             f"channels), got {max_shift!r} and {image_shape!r}.")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights; its seed state exists from here on

    def call(self, inputs, training=False):
        if not training or self.max_shift == 0:
            return inputs
        height, width, channels = self.image_shape
        n = ops.shape(inputs)[0]
        shifts = keras.random.randint((n, 2), -self.max_shift, self.max_shift + 1,
                                      seed=self.seed_generator)
        images = ops.reshape(inputs, (-1, height, width, channels))
        rows = _shift_matrices(shifts[:, 0], height, inputs.dtype)
        cols = _shift_matrices(shifts[:, 1], width, inputs.dtype)
        images = ops.einsum("nij,njkc->nikc", rows, images)
        images = ops.einsum("nkl,nilc->nikc", cols, images)
        return ops.reshape(images, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift,
                "image_shape": self.image_shape, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StopGradient(keras.layers.Layer):
    """The identity whose input gets no gradient: a loss on its output trains only the layers
    after it (InfoGAN's Q mapping on the discriminator's class logits, not the classifier)."""

    def call(self, inputs):
        return ops.stop_gradient(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class VirtualBatchNormalization(keras.layers.Layer):
    """Virtual batch normalization (Salimans et al. 2016, §3.4).

    The first `reference_size` rows of the input are the reference batch (prepended by a
    `ReferenceBatch` layer). Each row x is normalized with the statistics of the reference batch
    combined with x itself, weight 1/(n+1) for x: the mean and variance of the reference rows and
    x pooled together, per feature (per channel for images, where x contributes the moments of its
    own pixels). A row's output therefore depends on itself and the
    reference batch only, never on the other rows of its minibatch, and training and inference
    compute the same thing.

    Args:
        reference_size: number of leading reference rows n.
        epsilon: added to σ² for numerical stability.
        center, scale: learn a shift β and a scale γ, as in batch normalization.
    """

    def __init__(self, reference_size=64, epsilon=1e-5, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.reference_size = int(reference_size)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale

    def build(self, input_shape):
        features = input_shape[-1]
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=(features,), initializer="ones")
        if self.center:
            self.beta = self.add_weight(name="beta", shape=(features,), initializer="zeros")

    def call(self, inputs):
        n = float(self.reference_size)
        own_axes = tuple(range(1, len(inputs.shape) - 1))  # an example's own pixels
        ref_axes = (0,) + own_axes
        reference = inputs[: self.reference_size]
        ref_mean = ops.mean(reference, axis=ref_axes)
        ref_var = ops.mean(ops.square(reference - ref_mean), axis=ref_axes)
        if own_axes:
            own_mean = ops.mean(inputs, axis=own_axes, keepdims=True)
            own_var = ops.mean(ops.square(inputs - own_mean), axis=own_axes, keepdims=True)
        else:
            own_mean, own_var = inputs, 0.0
        # Pooled moments with weights w = n/(n+1) (reference) and 1 − w (the example), written
        # around each part's own mean rather than as E[h²] − μ², which cancels catastrophically
        # when the mean is large next to the spread:
        #   μ = w·μ_ref + (1−w)·μ_x,   σ² = w·σ²_ref + (1−w)·σ²_x + w·(1−w)·(μ_x − μ_ref)².
        w = n / (n + 1.0)
        mean = w * ref_mean + (1.0 - w) * own_mean
        variance = w * ref_var + (1.0 - w) * own_var + w * (1.0 - w) * ops.square(own_mean - ref_mean)
        outputs = (inputs - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            outputs = outputs * self.gamma
        if self.center:
            outputs = outputs + self.beta
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reference_size": self.reference_size,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }
