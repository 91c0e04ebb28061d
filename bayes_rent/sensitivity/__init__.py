"""Prior sensitivity: prior sweeps, power-scaling diagnostics and simulation-based calibration.

Examples
--------
>>> import bayes_rent as br
>>> br.sensitivity.expand_grid({"paths": ["normal(0,0.1)", "normal(0,1)"]})
[{'paths': 'normal(0,0.1)'}, {'paths': 'normal(0,1)'}]
"""

from bayes_rent.sensitivity.calibration import Calibration, calibrate
from bayes_rent.sensitivity.executors import InlineExecutor, dask_executor, local_executor
from bayes_rent.sensitivity.power import add_log_prior, log_prior, power_scaling
from bayes_rent.sensitivity.sweep import Sweep, expand_grid, prior_sweep

__all__ = [
    "Calibration",
    "InlineExecutor",
    "Sweep",
    "add_log_prior",
    "calibrate",
    "dask_executor",
    "expand_grid",
    "local_executor",
    "log_prior",
    "power_scaling",
    "prior_sweep",
]
