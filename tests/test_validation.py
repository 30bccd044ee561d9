"""Bad input raises typed errors whose messages say what, what was received, and how to fix."""

import numpy as np
import pytest
import torch

import eigengrad as eg
from eigengrad.exceptions import (
    InputDTypeError,
    InputError,
    InputShapeError,
    NonFiniteInputError,
    NotHermitianError,
    NotSquareError,
)

FUNCTIONS = [eg.eigh, eg.eigvalsh]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_not_square(fn):
    with pytest.raises(NotSquareError, match=r"square.*\(2, 3\).*3 != |square.*2 != 3"):
        fn(torch.zeros(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("shape", [(), (3,)])
def test_wrong_rank(fn, shape):
    with pytest.raises(InputShapeError, match=rf"{len(shape)}-d tensor"):
        fn(torch.zeros(shape, dtype=torch.float64))


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.float16, torch.bfloat16])
def test_unsupported_dtype(fn, dtype):
    with pytest.raises(InputDTypeError, match=rf"received {dtype}.*A.to\(torch.float64\)"):
        fn(torch.zeros(2, 2, dtype=dtype))


def test_not_a_tensor():
    with pytest.raises(InputDTypeError, match="received list"):
        eg.eigh([[1.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite(fn, bad):
    A = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    A[1, 2, 0] = bad
    with pytest.raises(
        NonFiniteInputError, match=r"1 NaN or infinite entry \(first at index \(1, 2, 0\)\)"
    ):
        fn(A)


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex128])
def test_not_hermitian_reports_measured_asymmetry(fn, dtype):
    A = torch.tensor([[2.0, 1.0], [0.5, 3.0]], dtype=dtype)
    # lower triangle read: eigenvalues of [[2, .5], [.5, 3]], spectral norm 3.207
    expected = r"relative asymmetry max\|A - A\^H\| / ‖A‖₂ \(spectral norm\) = 0\.156 > "
    with pytest.raises(NotHermitianError, match=expected + ".*check_hermitian=False"):
        fn(A)
    # skipping the check reads the lower triangle, as torch does
    w = fn(A, check_hermitian=False)
    w = w[0] if isinstance(w, tuple) else w
    torch.testing.assert_close(w, torch.linalg.eigvalsh(A))


def test_complex_non_hermitian_diagonal_is_rejected():
    A = torch.tensor([[1.0 + 1.0j, 0.0], [0.0, 1.0]], dtype=torch.complex128)
    with pytest.raises(NotHermitianError, match="Hermitian"):
        eg.eigh(A)


def test_rounding_level_asymmetry_is_accepted():
    X = torch.randn(50, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    A = X @ X.mT  # symmetric up to rounding
    eg.eigh(A + 1e-13 * torch.triu(torch.ones_like(A), 1))


def test_bad_options():
    A = torch.eye(2, dtype=torch.float64)
    with pytest.raises(InputError, match="UPLO='L' or UPLO='U', received 'X'"):
        eg.eigh(A, "X")
    with pytest.raises(InputError, match="gauge='warn' or gauge='raise', received 'ignore'"):
        eg.eigh(A, gauge="ignore")


def test_errors_are_also_builtin_exception_types():
    assert issubclass(NotSquareError, ValueError)
    assert issubclass(InputDTypeError, TypeError)
    assert issubclass(eg.GaugeDependenceError, ArithmeticError)
    assert issubclass(eg.GaugeDependenceWarning, UserWarning)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (np.int64(3), 3), (torch.tensor(3), 3), (1e4, 10_000), (np.float64(2.0), 2)],
)
def test_integer_options_accept_integer_like_values(value, expected):
    from eigengrad._validation import check_integer

    assert check_integer(value, "max_iter", "f", 0) == expected


@pytest.mark.parametrize(
    "value", [True, 2.5, float("nan"), float("inf"), "3", None, torch.tensor(2.0), -1]
)
def test_integer_options_reject_the_rest(value):
    from eigengrad._validation import check_integer

    with pytest.raises(InputError, match=r"integer max_iter >= 0, received max_iter="):
        check_integer(value, "max_iter", "f", 0)


@pytest.mark.parametrize("value", [0.0, -1e-8, float("nan"), float("inf"), "tight", None])
def test_tolerances_are_finite_and_positive(value):
    from eigengrad._validation import check_tolerance

    with pytest.raises(InputError, match="finite positive tol"):
        check_tolerance(value, "tol", "f")
    assert check_tolerance(np.float32(1e-6), "tol", "f") == pytest.approx(1e-6)


@pytest.mark.parametrize("fn", [eg.eigh, eg.eigvalsh, eg.lambda_max, eg.sum_largest])
@pytest.mark.parametrize(
    ("option", "value"), [("rtol", float("nan")), ("rtol", -1e-3), ("atol", -1.0)]
)
def test_cluster_tolerances_are_validated(fn, option, value):
    # a negative or NaN tolerance used to be accepted (or to fail later with a raw TypeError)
    A = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    args = (1,) if fn is eg.sum_largest else ()
    with pytest.raises(InputError, match=rf"real {option} >= 0"):
        fn(A, *args, **{option: value})
