"""Data sets: the Dataset container and generators (toy, mu-separated, digits, MNIST IDX)."""

from .dataset import Dataset as Dataset
from .digits import digits as digits, mnist as mnist, read_idx as read_idx
from .separated import SeparatedData as SeparatedData, separated as separated
from .toy import two_point as two_point
