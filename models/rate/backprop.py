"""Backpropagation of error, the reference every other rate rule is measured against."""
from __future__ import annotations

import numpy as np

from ..rules import register
from .mlp import RATE_PARAMETERS, RateRule, Updates, backprop_updates, tuned_learning_rate


@register
class Backprop(RateRule):
    """Backpropagation (Rumelhart, Hinton & Williams 1986, Nature 323:533).

    ``delta_L = f'(a_L) * d ell/d h_L``, ``delta_l = f'(a_l) * W_{l+1}^T delta_{l+1}``,
    ``dLoss/dW_l = delta_l h_{l-1}^T`` averaged over the batch, then SGD or Adam.
    """

    name = "bp"
    summary = "backpropagation of error (MSE or cross-entropy; SGD or Adam)"
    reference = "Rumelhart, Hinton & Williams (1986) Nature 323:533-536"
    parameters = RATE_PARAMETERS.extend(replace=(tuned_learning_rate(1e-3),))

    def compute_updates(self, x: np.ndarray, targets: np.ndarray, reuse: bool = False) -> Updates:
        return backprop_updates(self.net, x, targets, self.loss, reuse=reuse)
