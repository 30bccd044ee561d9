import os

import torch
from hypothesis import settings

# Derandomized, bounded property tests (CI); HYPOTHESIS_PROFILE=dev explores more.
settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(min(2, torch.get_num_threads()))
