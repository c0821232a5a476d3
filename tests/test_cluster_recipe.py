"""README's SLURM recipe (dask-jobqueue) stays runnable: it is executed here with the cluster's
start mocked, since no SLURM is present, and must produce a job script for the Dask workers."""

import re

from conftest import ROOT


def recipe() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"<!-- slurm-recipe -->\s*```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_slurm_recipe_makes_a_job_script(monkeypatch, tmp_path):
    from dask_jobqueue import SLURMCluster

    scripts, scaled = [], []
    # No SLURM here: keep the cluster object, not its jobs (and nothing is submitted).
    monkeypatch.setattr(SLURMCluster, "scale", lambda self, jobs=0, **kw: (scripts.append(self.job_script()),
                                                                           scaled.append(jobs)))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(recipe(), "README.md (slurm recipe)", "exec"), namespace)
    cluster = namespace["cluster"]
    try:
        assert scaled == [8] and len(scripts) == 1
        script = scripts[0]
        assert script.startswith("#!/usr/bin/env bash") and "#SBATCH --partition=cpu" in script
        assert "#SBATCH -t 04:00:00" in script and "--nthreads 1" in script and "--nworkers 2" in script
        assert cluster.scheduler_address.startswith("tcp://")
    finally:
        cluster.close()
