"""The training state: flattening to checkpoint keys and back, stacking runs side by side."""

import numpy as np

from ssgan.backends import get_backend
from ssgan.optimizers import AdamState
from ssgan.train import state as train_state
from ssgan.train.state import TrainState


def _state(offset=0.0):
    def a(*shape):
        return np.arange(np.prod(shape), dtype="float32").reshape(shape) + offset

    return TrainState(
        d_trainable=[a(2, 3), a(3)], d_non_trainable=[a(1)], g_trainable=[a(4)],
        g_non_trainable=[], d_optimizer=AdamState([a(2, 3), a(3)], [a(2, 3), a(3)], a()),
        g_optimizer=AdamState([a(4)], [a(4)], a()), ema=[a(2, 3), a(3)], g_ema=[], d_history=[],
        g_history=[], mean_prediction=[], latent_seed=a(2), step=a(),
    )


def test_flatten_keys_and_round_trip():
    state = _state()
    flat = train_state.flatten(state)
    assert list(flat)[:3] == ["d_trainable/0000", "d_trainable/0001", "d_non_trainable/0000"]
    assert "d_optimizer/m/0001" in flat and "g_optimizer/step" in flat and "step" in flat
    # Empty lists (no historical averaging) have no leaves.
    assert not any(key.startswith(("d_history", "g_history", "g_non_trainable", "g_ema"))
                   for key in flat)
    rebuilt = train_state.unflatten(state, lambda key: flat[key] * 2)
    assert isinstance(rebuilt, TrainState) and isinstance(rebuilt.d_optimizer, AdamState)
    np.testing.assert_array_equal(rebuilt.d_optimizer.v[0], 2 * state.d_optimizer.v[0])
    assert rebuilt.g_history == []


def test_map_leaves_keeps_the_structure():
    doubled = train_state.map_leaves(lambda leaf: leaf + 1, _state())
    np.testing.assert_array_equal(doubled.ema[1], _state().ema[1] + 1)


def test_stack_and_unstack_are_inverse():
    backend = get_backend()
    states = [_state(0.0), _state(10.0), _state(20.0)]
    stacked = train_state.stack(states, backend)
    assert np.asarray(stacked.d_trainable[0]).shape == (3, 2, 3)
    for original, back in zip(states, train_state.unstack(stacked, 3, backend)):
        for key, leaf in train_state.flatten(original).items():
            np.testing.assert_array_equal(train_state.flatten(back)[key], leaf)
