"""Framework-neutral derivative formulas (array API). Imports neither torch nor jax."""
