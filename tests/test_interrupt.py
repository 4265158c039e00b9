"""A real Ctrl-C: evolve finishes its generation, checkpoints, exits cleanly, and resumes from there."""

import json
import signal
import subprocess
import sys
import time

from evoface.core.checkpoints import load_checkpoint


def test_sigint_checkpoints_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "cli", "evolve", "--out", str(run), "--mu", "12", "--q", "3",
                                "--time-limit", "5m", "--checkpoint-every", "100000", "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "config.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # let it evolve for a while
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "interrupted at generation" in out and "Traceback" not in err
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "evolve")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert ckpt["generation"] == rows[-1]["generation"] > 0
    result = subprocess.run([sys.executable, "-m", "cli", "evolve", "--resume", str(run), "--generations",
                             str(ckpt["generation"] + 5), "--device", "cpu"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"at generation {ckpt['generation'] + 5}" in result.stdout
