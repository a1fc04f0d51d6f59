"""A profile file: which back end, its cluster options, retries and per-kind resource defaults, so that
nothing about a cluster (partition, account, QoS, address) is hard-coded or spelled in a suite.

```yaml
executor: slurm
retries: 2
resources: {train: {gpus: 1, cpus: 8, mem_gb: 64, timeout_min: 2880}}
slurm: {partition: gpu, account: lab, qos: normal}
```
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from harness.specs import ResourceSpec, Strict, read_yaml, validate


class SlurmProfile(Strict):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    #: where submitit keeps each job's pickles and logs (default ``<home>/jobs``; on the shared filesystem)
    folder: str | None = None
    #: lines run in the job script before the worker (``module load …``, ``source venv/bin/activate``)
    setup: list[str] = Field(default_factory=list)
    #: any other sbatch option by name (submitit's ``slurm_additional_parameters``)
    additional: dict[str, str | int] = Field(default_factory=dict)
    poll_s: float = Field(2.0, gt=0, description="seconds between looks at the queue")


class RayProfile(Strict):
    address: str = Field("auto", description="the cluster to join: 'auto' (a running 'ray start') or ray://…")
    #: map mem_gb to Ray's ``memory`` resource (off: Ray then only counts CPUs and GPUs)
    memory: bool = True


class Profile(Strict):
    executor: str | None = Field(None, description="back end when --executor is not given")
    retries: int = Field(1, ge=0, description="attempts after a stage's first failure")
    max_parallel: int | None = Field(None, ge=1, description="stages at once (local-parallel: processes)")
    resources: dict[str, ResourceSpec] = Field(
        default_factory=dict, description="stage kind → resource defaults on this cluster (suites override)"
    )
    slurm: SlurmProfile = Field(default_factory=SlurmProfile)
    ray: RayProfile = Field(default_factory=RayProfile)


def load_profile(path: str | Path | None) -> Profile:
    """The profile at ``path`` (safe YAML, duplicate keys refused, errors naming file and field)."""
    if path is None:
        return Profile()
    return validate(Profile, read_yaml(Path(path)) or {}, str(path))
