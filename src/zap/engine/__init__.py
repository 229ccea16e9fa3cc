"""The distributed engine: a Dask client on a local cluster, an existing scheduler, or SLURM.

Every worker runs one task at a time on one thread (torch threads 1, BLAS threads 1), which is what the
meta-dataset's CPU-time clock assumes. The same client runs cost-matrix cells and SMAC's HPO trials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from zap.errors import ConfigError

ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536. Setting any malloc threshold turns off
# glibc's dynamic mmap threshold, so every large tensor is mmap'ed and unmapped again, and its pages
# fault in anew at every step: a task in a worker then costs far more CPU time than in a plain process
# (docs/metadataset.md, "The engine's allocator", has the measurements and their command).
# Local workers get no malloc variable at all; on SLURM, where the worker command's own Dask config
# applies, the job script sets the thresholds to glibc's dynamic maxima instead.
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
SLURM_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "67108864"}
# A worker's statistical profiler samples the running task's stack (for the dashboard, which zap does
# not use), and that CPU time lands on the task thread's own clock, which is the meta-dataset's clock
# (same page of docs/metadataset.md).
NO_PROFILER = {"distributed.worker.profile.enabled": False}
SLURM_WORKER_ENV = SLURM_MALLOC_ENV | {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


@dataclass(frozen=True)
class EngineSpec:
    """Where tasks run: `cluster` "local" (default) or "slurm", or `scheduler` an existing address."""

    cluster: str = "local"
    workers: int | None = None
    scheduler: str | None = None
    slurm_queue: str | None = None
    slurm_account: str | None = None
    slurm_walltime: str = "04:00:00"
    slurm_memory: str = "6GB"


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def slurm_cluster(spec: EngineSpec):
    """A dask-jobqueue SLURMCluster: one single-thread worker per job, one core and `slurm_memory` each."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        cores=1, processes=1, memory=spec.slurm_memory, walltime=spec.slurm_walltime, queue=spec.slurm_queue,
        account=spec.slurm_account,
        job_script_prologue=[f"export {k}={v}" for k, v in (ONE_THREAD_ENV | SLURM_WORKER_ENV).items()],
        worker_extra_args=["--nthreads", "1"],
    )


def make_client(spec: EngineSpec | None = None):
    """A Dask client for `spec`; the caller closes it (it is a context manager)."""
    from dask.distributed import Client, LocalCluster

    spec = spec or EngineSpec()
    if spec.scheduler:
        return Client(spec.scheduler)
    if spec.cluster == "slurm":
        cluster = slurm_cluster(spec)
        cluster.scale(jobs=spec.workers or 1)
        return Client(cluster)
    if spec.cluster != "local":
        raise ConfigError(f"unknown cluster {spec.cluster!r}; use 'local' or 'slurm' (or --scheduler ADDRESS)")
    import dask

    os.environ.update(ONE_THREAD_ENV)  # inherited by the worker processes the cluster starts
    dask.config.set(NO_MALLOC_TRIM | NO_PROFILER)
    cluster = LocalCluster(n_workers=spec.workers or default_workers(), threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit=0)
    return Client(cluster)
