"""eigengrad: derivatives of eigendecompositions that are exact, or say why they cannot be.

The public surface is listed explicitly below; everything else is private.
"""

from . import exceptions as exceptions
from ._eig import EigLeftResult as EigLeftResult
from ._eig import EigResult as EigResult
from ._eig import eig as eig
from ._eig import eigvals as eigvals
from ._eig_sensitivity import EigProjectorsResult as EigProjectorsResult
from ._eig_sensitivity import eig_projectors as eig_projectors
from ._eig_sensitivity import eigenvalue_condition_numbers as eigenvalue_condition_numbers
from ._eigh import EighResult as EighResult
from ._eigh import eigh as eigh
from ._eigh import eigvalsh as eigvalsh
from ._spectral_extrema import spectral_abscissa as spectral_abscissa
from ._spectral_extrema import spectral_radius as spectral_radius
from .exceptions import (
    DefectiveEigenvalueError as DefectiveEigenvalueError,
)
from .exceptions import (
    DefectiveEigenvalueWarning as DefectiveEigenvalueWarning,
)
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
