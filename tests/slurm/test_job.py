"""The job a process runs in, from the environment SLURM exports to its tasks."""

from __future__ import annotations

from impactlib.slurm.job import detect


def test_outside_slurm_there_is_no_job() -> None:
    assert detect({"HOME": "/home/ann"}) is None


def test_a_batch_job() -> None:
    job = detect(
        {
            "SLURM_JOB_ID": "31",
            "SLURM_JOB_ACCOUNT": "vision",
            "SLURM_JOB_PARTITION": "gpu",
            "SLURM_CLUSTER_NAME": "hpc",
            "SLURMD_NODENAME": "node03",
            "SLURM_JOB_GPUS": "1,3",
            "SLURM_CPUS_ON_NODE": "8",
            "SLURM_MEM_PER_NODE": "64000",
        }
    )
    assert job is not None
    assert (job.job_id, job.raw_job_id, job.step, job.array_task_id) == ("31", "31", None, None)
    assert (job.account, job.partition, job.cluster, job.node) == ("vision", "gpu", "hpc", "node03")
    assert job.gpus == ("1", "3")  # the node's global ids, not CUDA's relative ones
    assert (job.cpus_on_node, job.memory_per_node_mb) == (8, 64000)


def test_an_array_task_is_named_as_sacct_names_it_and_step_gpus_win() -> None:
    job = detect(
        {
            "SLURM_JOB_ID": "1011",
            "SLURM_ARRAY_JOB_ID": "1002",
            "SLURM_ARRAY_TASK_ID": "2",
            "SLURM_STEP_ID": "0",
            "SLURM_JOB_GPUS": "0,1,2,3",
            "SLURM_STEP_GPUS": "2",
        }
    )
    assert job is not None
    assert (job.job_id, job.raw_job_id, job.step) == ("1002_2", "1011", "0")
    assert job.gpus == ("2",)
    assert job.to_dict()["gpus"] == ["2"]
