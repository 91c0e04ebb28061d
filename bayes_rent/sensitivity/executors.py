"""Where the fits of a sensitivity study run: this process, local processes, or Dask.

Every executor is a :class:`concurrent.futures.Executor`. A task ships the model, the data,
the priors, the seed and the fit options; the worker compiles and samples, and returns a
summary table, the posterior ``parameters`` and the number of compiles it did. Compiled
functions never cross a process boundary.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

#: environment variables that keep a worker to one thread
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS")


class InlineExecutor(Executor):
    """Run each task at once, in this process (notebooks, tests, one compile for all).

    Examples
    --------
    >>> InlineExecutor().submit(sum, [1, 2]).result()
    3
    """

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` now and return its finished future."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to the caller by the future
            future.set_exception(error)
        return future


def init_worker(compile_root: str) -> None:
    """Give a worker process its own PyTensor compile directory and one thread.

    PyTensor's compile-directory lock is not safe between processes that compile at the same
    time, so each worker compiles in ``compile_root/worker-<pid>``. The directory goes into
    ``PYTENSOR_FLAGS``; if PyTensor is already imported (a spawned worker imports the package
    to unpickle this function), ``pytensor.config.compiledir`` is set as well, which PyTensor
    accepts until its first compile.
    """
    compiledir = Path(compile_root) / f"worker-{os.getpid()}"
    compiledir.mkdir(parents=True, exist_ok=True)
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("compiledir=")]
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, f"compiledir={compiledir}"])
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    if "pytensor" in sys.modules:
        import pytensor

        pytensor.config.compiledir = str(compiledir)


def local_executor(n_tasks: int, max_workers: int | None = None) -> ProcessPoolExecutor:
    """Local worker processes (spawn context), each with its own compile directory.

    Parameters
    ----------
    n_tasks : int
        Number of tasks to run (no more workers than tasks).
    max_workers : int, optional
        By default ``min(2, os.cpu_count(), n_tasks)``.

    Examples
    --------
    >>> with local_executor(1) as pool:  # doctest: +SKIP
    ...     pool.submit(sum, [1, 2]).result()
    3
    """
    workers = max_workers or max(1, min(2, os.cpu_count() or 1, n_tasks))
    root = tempfile.mkdtemp(prefix="bayes-rent-compiledir-")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker, initargs=(root,),
    )


def dask_executor(address: str | None = None, n_workers: int = 2) -> Executor:
    """A Dask cluster as a :class:`concurrent.futures.Executor`.

    Parameters
    ----------
    address : str, optional
        Scheduler to join (``"tcp://host:8786"``). By default a
        :class:`distributed.LocalCluster` starts on 127.0.0.1: worker processes with one
        thread each, dashboard off.
    n_workers : int
        Workers of the local cluster.

    Returns
    -------
    concurrent.futures.Executor
        ``client.get_executor()``; the client is at ``executor.client`` (close it, and its
        cluster, with ``executor.client.close()`` / ``executor.client.cluster.close()``).

    Examples
    --------
    >>> ex = dask_executor()  # doctest: +SKIP
    >>> sweep = prior_sweep(model, data, grid, executor=ex, seed=1)  # doctest: +SKIP
    """
    from distributed import Client, LocalCluster

    if address is None:
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, env={name: "1" for name in _THREAD_VARIABLES},
        )
        client = Client(cluster)
        # each worker compiles in its own directory, as local worker processes do
        client.run(init_worker, tempfile.mkdtemp(prefix="bayes-rent-compiledir-"))
    else:
        client = Client(address)
    executor = client.get_executor()
    # the executor keeps its client privately; give the caller a handle to close it
    executor.client = client
    return executor
