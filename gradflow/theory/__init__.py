"""Closed-form predictions of the papers (bounds, population losses)."""

from .du_closed_form import (
    DuPopulation as DuPopulation,
    population_flow as population_flow,
    population_loss as population_loss,
    relu_kernel as relu_kernel,
)
from .min_bounds import MinBounds as MinBounds, min_bounds as min_bounds
