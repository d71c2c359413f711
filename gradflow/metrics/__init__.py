"""Metrics read off a model or a Trajectory."""

from .alignment import (
    CONE_DEAD as CONE_DEAD,
)
from .alignment import (
    CONE_MINUS as CONE_MINUS,
)
from .alignment import (
    CONE_NAMES as CONE_NAMES,
)
from .alignment import (
    CONE_OTHER as CONE_OTHER,
)
from .alignment import (
    CONE_PLUS as CONE_PLUS,
)
from .alignment import (
    AlignmentTime as AlignmentTime,
)
from .alignment import (
    alignment_gap as alignment_gap,
)
from .alignment import (
    alignment_time as alignment_time,
)
from .alignment import (
    alignment_time_core as alignment_time_core,
)
from .alignment import (
    balancedness as balancedness,
)
from .alignment import (
    cone_gap as cone_gap,
)
from .alignment import (
    cones as cones,
)
from .alignment import (
    cos_to_class as cos_to_class,
)
from .alignment import (
    dead_margin as dead_margin,
)
from .alignment import (
    first_crossing as first_crossing,
)
from .alignment import (
    mu as mu,
)
from .alignment import (
    target_cos as target_cos,
)
from .alignment import (
    x_minus as x_minus,
)
from .alignment import (
    x_plus as x_plus,
)
from .rank import (
    numerical_rank as numerical_rank,
)
from .rank import (
    sigma_min as sigma_min,
)
from .rank import (
    singular_values as singular_values,
)
from .rank import (
    stable_rank as stable_rank,
)
