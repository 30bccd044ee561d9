"""eigengrad: derivatives of eigendecompositions that are exact, or say why they cannot be.

The public surface is listed explicitly below; everything else is private.
"""

from . import exceptions as exceptions
from ._eigh import EighResult as EighResult
from ._eigh import eigh as eigh
from ._eigh import eigvalsh as eigvalsh
from .exceptions import (
    EigengradError as EigengradError,
)
from .exceptions import (
    EigengradWarning as EigengradWarning,
)
from .exceptions import (
    GaugeDependenceError as GaugeDependenceError,
)
from .exceptions import (
    GaugeDependenceWarning as GaugeDependenceWarning,
)
from .exceptions import (
    SubgradientWarning as SubgradientWarning,
)

__version__ = "0.1.0"
from ._eigsh import ConvergenceInfo as ConvergenceInfo
from ._eigsh import EigshResult as EigshResult
from ._eigsh import eigsh as eigsh
from ._laplacian import graph_laplacian as graph_laplacian
from ._operator import LinearOperator as LinearOperator
from ._operator import aslinearoperator as aslinearoperator
from ._power import PowerResult as PowerResult
from ._power import power_iteration as power_iteration
from .exceptions import ConvergenceWarning as ConvergenceWarning
from .exceptions import SplitClusterWarning as SplitClusterWarning
