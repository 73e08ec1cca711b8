"""Stacked Multichannel Autoencoder (SMCAE; Zhang et al., ICMLA 2015) on feature vectors.

The cost terms live in `synthgap.adapt.smcae_functional` and are re-exported here, so a
convolutional SMCAE uses exactly the same maths.
"""

from __future__ import annotations

from synthgap.adapt.smcae_functional import (
    McaeCost,
    balance_term,
    channel_cost,
    dense_layer,
    kl_sparsity,
    mcae_cost,
    pooled_mean_activation,
    reconstruction_cost,
    weight_decay,
)

__all__ = [
    "McaeCost",
    "balance_term",
    "channel_cost",
    "dense_layer",
    "kl_sparsity",
    "mcae_cost",
    "pooled_mean_activation",
    "reconstruction_cost",
    "weight_decay",
]
