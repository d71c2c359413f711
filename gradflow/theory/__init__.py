"""Closed-form predictions of the papers (bounds, population losses)."""
