"""Training of the K+1-class semi-supervised GAN, in stages that hand a named value to the next
(as TF-GAN's `train.py`): the state (`state.TrainState`), the pure step (`step`), the epoch loop
driven by Keras callbacks (`loop`), the trainer that builds the models and owns the state
(`trainer.SemiSupervisedGAN`), runs side by side (`seed_group.SeedGroup`), checkpoints
(`checkpoint`) and the run directory's writers (`callbacks`).
"""

from ssgan.config import TrainingConfig
from ssgan.train.loop import TrainingDivergedError
from ssgan.train.loop import epoch_indices
from ssgan.train.seed_group import SeedGroup
from ssgan.train.state import TrainState
from ssgan.train.trainer import SemiSupervisedGAN

__all__ = [
    "SeedGroup",
    "SemiSupervisedGAN",
    "TrainState",
    "TrainingConfig",
    "TrainingDivergedError",
    "epoch_indices",
]
