"""Generator objectives: what the generator is trained for, as plug-ins.

One module per objective, each an `Objective` subclass that owns its sampling, its loss terms,
its sample grids and its quality metrics (`ssgan.objectives.base`). A new generator is one module
and one `register_objective` line below; users register their own the same way, from their own
code, and `--generator NAME`, `SSGANClassifier(generator=NAME)` and the benchmark harness find it.
"""

from ssgan.losses import categorical_cross_entropy
from ssgan.losses import gaussian_negative_log_likelihood
from ssgan.objectives.base import OBJECTIVES
from ssgan.objectives.base import Grid
from ssgan.objectives.base import Objective
from ssgan.objectives.base import get_objective
from ssgan.objectives.base import make_objective
from ssgan.objectives.base import register_objective
from ssgan.objectives.cgan import ConditionalObjective
from ssgan.objectives.feature_matching import FeatureMatchingObjective
from ssgan.objectives.infogan import InfoGANObjective

register_objective(FeatureMatchingObjective)
register_objective(ConditionalObjective)
register_objective(InfoGANObjective)

__all__ = [
    "OBJECTIVES",
    "ConditionalObjective",
    "FeatureMatchingObjective",
    "Grid",
    "InfoGANObjective",
    "Objective",
    "categorical_cross_entropy",
    "gaussian_negative_log_likelihood",
    "get_objective",
    "make_objective",
    "register_objective",
]
