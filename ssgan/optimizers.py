"""The Adam of the Improved-GAN code as a pure function of tensors.

Keras optimizers update variables in place, and their `stateless_apply` is not available on the
TensorFlow backend; the training step needs one pure update that both backends compile, so Adam is
written here with `keras.ops`: `init(params) -> AdamState`, `apply(slots, grads, params) ->
(params, slots)`.
"""

from typing import NamedTuple

from keras import ops


class AdamState(NamedTuple):
    """Adam's slots: first and second moment estimates (one per parameter) and the step count."""

    m: list
    v: list
    step: object


class Adam:
    """Adam with ε inside the square root: θ ← θ − lr_t · m̂ / sqrt(v̂ + ε).

    This is the update of the Improved-GAN code (`nn.adam_updates`). Keras' Adam computes
    m̂ / (sqrt(v̂) + ε) instead; the two differ only where v̂ is tiny, where ε = 1e-8 inside the root
    acts like 1e-4 outside it and damps the steps of rarely-moving weights.

    Args:
        learning_rate: the step size, constant until `decay_start`.
        beta_1, beta_2: decay rates of the first and second moment estimates.
        epsilon: added to v̂ inside the square root.
        decay_start, total_steps: when given, the learning rate decays linearly after step
            `decay_start`: update k uses lr·(total_steps − k + 1)/(total_steps − decay_start), the
            rate at the start of its step, so the last update still moves (by lr/(T − D)).
    """

    def __init__(
        self,
        learning_rate=0.003,
        beta_1=0.5,
        beta_2=0.999,
        epsilon=1e-8,
        decay_start=None,
        total_steps=None,
    ):
        if decay_start is not None and total_steps is None:
            raise ValueError("Linear decay needs total_steps.")
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.decay_start = decay_start
        self.total_steps = total_steps

    def learning_rate_at(self, step):
        """The learning rate of update number `step` (counting from 1)."""
        if self.decay_start is None:
            return ops.convert_to_tensor(self.learning_rate, "float32")
        span = float(max(self.total_steps - self.decay_start, 1))
        remaining = (float(self.total_steps) - ops.cast(step - 1, "float32")) / span
        return self.learning_rate * ops.clip(remaining, 0.0, 1.0)

    def init(self, params):
        """Optimizer slots for `params`: first and second moments (zeros) and the step count."""
        return AdamState(
            m=[ops.zeros_like(p) for p in params],
            v=[ops.zeros_like(p) for p in params],
            step=ops.zeros((), "int32"),
        )

    def apply(self, slots, grads, params):
        """One update of `params` by `grads`; returns (new params, new slots)."""
        step = slots.step + 1
        t = ops.cast(step, "float32")
        lr = self.learning_rate_at(step)
        m_correction = 1.0 - ops.power(self.beta_1, t)
        v_correction = 1.0 - ops.power(self.beta_2, t)
        new_params, new_m, new_v = [], [], []
        for p, g, m, v in zip(params, grads, slots.m, slots.v):
            m = self.beta_1 * m + (1.0 - self.beta_1) * g
            v = self.beta_2 * v + (1.0 - self.beta_2) * ops.square(g)
            update = (m / m_correction) / ops.sqrt(v / v_correction + self.epsilon)
            new_params.append(p - lr * update)
            new_m.append(m)
            new_v.append(v)
        return new_params, AdamState(new_m, new_v, step)
