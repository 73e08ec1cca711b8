"""Adaptation: close the synthetic gap between renders and a few real photos (SMCAE + baselines)."""
