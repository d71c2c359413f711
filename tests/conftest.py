"""Tests run in float64 with jaxtyping + beartype runtime checks on the gradflow package."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
# every test relies on float64; fail loudly if something switched it off before the tests ran
assert jax.config.jax_enable_x64, "tests must run in float64"
