"""Runs side by side: several runs of one configuration trained as one vectorized step (JAX).

On a GPU a step of the paper's MLP pair is latency-bound (about a hundred kernels of a few
microseconds each: benchmarks/SPEED.md), so S seeds in one `vmap`ped step cost little more than
one. The group only adds the run axis; the epoch loop, the evaluation and the callbacks are the
ones a run alone gets, and each run ends where it would alone.
"""

import functools

import numpy as np

from ssgan.train import loop
from ssgan.train import state as train_state


class SeedGroup(loop.Runs):
    """Runs of one configuration that differ only in their seed and labeled set (its split and
    size), trained side by side as one vectorized step. JAX only.

    Each trainer keeps its own models, log, history and checkpoints. After every epoch all runs
    are evaluated in one vectorized call on the device, and each trainer is handed its slice of
    the group's state, which comes to the host (one transfer for all runs) only when something
    reads it: a checkpoint, a callback using the models, the end of `fit`. A run whose losses
    become NaN is left out from then on (`diverged`: run index → message) and keeps its state of
    the last epoch before, as does one whose trainer sets `stop_training`.

    Args:
        trainers: `SemiSupervisedGAN`s whose configurations are equal except `seed`, all at the
            same epoch.
    """

    vectorized = True

    def __init__(self, trainers):
        trainers = list(trainers)
        if not trainers:
            raise ValueError("A SeedGroup needs at least one trainer.")
        first = trainers[0]
        for trainer in trainers[1:]:
            same = (trainer.config.replace(seed=first.config.seed) == first.config
                    and trainer.image_shape == first.image_shape
                    and trainer.n_classes == first.n_classes)
            if not same:
                raise ValueError("The trainers of a SeedGroup must have the same configuration "
                                 "except their seed, and the same data shape.")
        if len({trainer.epoch for trainer in trainers}) > 1:
            raise ValueError("The trainers of a SeedGroup must be at the same epoch; got epochs "
                             f"{[trainer.epoch for trainer in trainers]}.")
        super().__init__(trainers, None, None, None, None)
        self.state = None  # while training: the trainers' states stacked along a run axis
        self._n_labeled = None
        self._n_unlabeled = None
        self._data_axes = None
        self._host = None  # (a stacked state, its runs' states on the host)

    def fit(self, datasets, epochs=None, validation_data=None, callbacks=None, verbose=1):
        """Train every trainer up to `epochs` (default: the configuration's).

        Args:
            datasets: one (x_labeled, y_labeled, x_unlabeled) per trainer. Unlabeled sets must
                have equal sizes (one equal for all, as in the paper's whole training set, is
                stored on the device once); labeled sets may differ (say 20 to 200 labels).
            validation_data: optional (x, y) evaluated after every epoch for every trainer.
            callbacks: one list of `keras.callbacks.Callback`s per trainer (or None).
            verbose: 0 silent, 1 a progress bar per epoch (the runs' mean), 2 one line per epoch.

        Returns each trainer's `keras.callbacks.History`.
        """
        trainers = self.trainers
        if len(datasets) != len(trainers):
            raise ValueError(f"Expected {len(trainers)} datasets (one per trainer), got "
                             f"{len(datasets)}.")
        prepared = [(t.as_inputs(x_lab), np.asarray(y_lab, dtype="int32"), t.as_inputs(x_unl))
                    for t, (x_lab, y_lab, x_unl) in zip(trainers, datasets)]
        if len({len(x_unl) for _, _, x_unl in prepared}) > 1:
            raise ValueError("The runs of a SeedGroup need unlabeled sets of equal size; got "
                             f"{sorted({len(x_unl) for _, _, x_unl in prepared})}.")
        for trainer, (_, _, x_unl) in zip(trainers, prepared):
            trainer.set_up_for(x_unl)
        first = trainers[0]
        self.steps = first.resolved.steps_per_epoch
        self.per_call = first.resolved.steps_per_call
        self.data, data_axes = self._stack_data(prepared)
        if self.run_steps is None or data_axes != self._data_axes:
            self.run_steps = first.compiled_steps(data_axes)
            self._data_axes = data_axes
        self.state = train_state.stack([t.state for t in trainers], self.backend)
        epochs = first.config.epochs if epochs is None else int(epochs)
        try:
            return loop.fit_runs(self, epochs, validation_data, callbacks, verbose)
        finally:
            for trainer in trainers:  # the states not read yet, in one transfer
                trainer.state  # noqa: B018 (the read takes it)
            self._host = None

    def _stack_data(self, prepared):
        """The runs' data with a leading run axis, and which entries have it. Labeled sets may
        differ in size: each is padded to the largest, and a run's batch indices only ever point
        into its own rows. An unlabeled set shared by all runs is stored once."""
        self._n_labeled = [len(x_lab) for x_lab, _, _ in prepared]
        self._n_unlabeled = len(prepared[0][2])
        width = max(self._n_labeled)

        def pad(array):
            missing = width - len(array)
            return np.concatenate([array, np.zeros((missing,) + array.shape[1:], array.dtype)])

        shared = all(p[2] is prepared[0][2] or np.array_equal(p[2], prepared[0][2])
                     for p in prepared[1:])
        to = self.backend.to_device
        data = {
            "x_labeled": to(np.stack([pad(p[0]) for p in prepared])),
            "y_labeled": to(np.stack([pad(p[1]) for p in prepared])),
            # From each run's own labels: the padding rows would count as class 0.
            "class_shares": to(np.stack([t.class_shares(p[1])
                                         for t, p in zip(self.trainers, prepared)])),
            "x_unlabeled": to(prepared[0][2] if shared else np.stack([p[2] for p in prepared])),
        }
        return data, {"x_labeled": 0, "y_labeled": 0, "class_shares": 0,
                      "x_unlabeled": None if shared else 0}

    def epoch_indices(self, epoch):
        config = self.trainers[0].resolved
        per_run = [loop.epoch_indices(t.config.seed, epoch, n_labeled, self._n_unlabeled,
                                      self.steps, config.batch_size)
                   for t, n_labeled in zip(self.trainers, self._n_labeled)]
        # (steps, runs, batch): the scan runs over steps, the vectorized step over runs.
        return {k: np.stack([p[k] for p in per_run], axis=1) for k in per_run[0]}

    def _run_state(self, state, index):
        """Run `index`'s slice of the stacked `state`, on the host; all runs' slices are cut
        from one transfer, for the trainers that read theirs after this one."""
        if self._host is None or self._host[0] is not state:
            self._host = (state, train_state.unstack(state, len(self.trainers), self.backend))
        return self._host[1][index]

    def hand_over(self, index):
        # The stacked state of this epoch's end stays valid: the group's step does not donate it.
        self.trainers[index].defer_state(functools.partial(self._run_state, self.state, index))

    def validation_errors(self, validation_data):
        evaluator = self.trainers[0].state_evaluator
        if not evaluator.on_device:
            return {}
        errors = evaluator.errors(self.state, *validation_data)
        return {i: float(errors[i]) for i in self.active()}

    def diverge(self, index, message):
        trainer = self.trainers[index]
        self.diverged[index] = (
            f"{message} (seed {trainer.config.seed}); this run stopped after epoch "
            f"{trainer.epoch}."
        )
