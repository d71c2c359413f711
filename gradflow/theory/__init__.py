"""Closed-form predictions of the papers (bounds, population losses)."""

from .min_bounds import MinBounds as MinBounds, min_bounds as min_bounds
