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
from ._extreme import lambda_max as lambda_max
from ._extreme import lambda_min as lambda_min
from ._extreme import rayleigh_quotient as rayleigh_quotient
from ._extreme import spectral_gap as spectral_gap
from ._extreme import sum_largest as sum_largest
from ._extreme import sum_smallest as sum_smallest
from ._matrix_function import matrix_function as matrix_function
from ._named_functions import clamp_eigenvalues as clamp_eigenvalues
from ._named_functions import expm as expm
from ._named_functions import invsqrtm as invsqrtm
from ._named_functions import logm as logm
from ._named_functions import powm as powm
from ._named_functions import sqrtm as sqrtm
from ._projector import spectral_projector as spectral_projector
from ._spectral_extrema import spectral_abscissa as spectral_abscissa
from ._spectral_extrema import spectral_radius as spectral_radius
from ._trace_function import trace_function as trace_function
from .exceptions import (
    DefectiveEigenvalueError as DefectiveEigenvalueError,
)
from .exceptions import (
    DefectiveEigenvalueWarning as DefectiveEigenvalueWarning,
)
from .exceptions import DomainError as DomainError
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
from .exceptions import SplitClusterError as SplitClusterError
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
