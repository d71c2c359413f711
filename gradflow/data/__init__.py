"""Data sets: the Dataset container and generators (toy, mu-separated, digits, MNIST IDX)."""

from .dataset import Dataset as Dataset
