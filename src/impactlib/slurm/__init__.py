"""SLURM clusters: jobs measured from inside by their cgroup, and accounting ingested.

* :mod:`.job` — what a process inside a job knows from its environment (job id, step,
  array task, account, partition, node, GPUs) and where the job's cgroup is
  (:mod:`.cgroup`), so that a tracker measures every process of the job and splits idle
  power by the allocation the job holds;
* :mod:`.sacct` — reading ``sacct`` (JSON where the installed SLURM has it, ``-P``
  otherwise) into one :class:`~.sacct.SacctJob` per job, steps folded in;
* :mod:`.ingest` — those jobs as run records, each with its energy labelled: measured by
  impactlib, SLURM's own counter for jobs that held their nodes exclusively, or the Green
  Algorithms estimate.

Nothing here is imported by ``import impactlib``.
"""
