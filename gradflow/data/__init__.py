"""Data sets: the Dataset container and generators (toy, mu-separated, digits, MNIST IDX)."""

from .dataset import Dataset as Dataset
from .digits import digits as digits, mnist as mnist, read_idx as read_idx
from .patterns import (
    PatternSet as PatternSet,
    bump_data as bump_data,
    pattern_data as pattern_data,
)
from .separated import SeparatedData as SeparatedData, separated as separated
from .teacher import (
    close_patches as close_patches,
    sample_inputs as sample_inputs,
    teacher_data as teacher_data,
)
from .toy import two_point as two_point
