"""Shared by the benchmark scripts: a description of the machine a result was measured on."""

import os
import platform

import jax


def machine_info(**extra) -> dict:
    """Platform, CPU count, JAX backend and version (plus any ``extra`` notes)."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        **extra,
    }
