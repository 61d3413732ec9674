"""Training killed with SIGKILL (once inside a checkpoint write, once at a drawn moment after an epoch)
and started again ends bit-identical to an uninterrupted run, for a gradient-based and a metric learner.
scripts/crash_resume.py runs the same check with 10 kill points per learner."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_killed_runs_resume_bit_identical(mirror):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "crash_resume.py"), "--kills", "2", "--seed", "1"],
                         check=False, capture_output=True, text=True, env=os.environ, timeout=900)
    results = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert out.returncode == 0 and len(results) == 2, out.stdout + out.stderr[-3000:]
    assert all("2 kill(s) in 20 epochs, final weights and optimizer state bit-identical" in line for line in results), results
