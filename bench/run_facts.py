"""What a bench record says about where it ran: the GPU and the commit.
Imported by the compare_*.py scripts (run as `python3 bench/compare_x.py`,
so this folder is on their path)."""
import os
import subprocess


def command_output(command):
    """A command's stripped standard output, or None where it cannot run or fails."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def gpu_name():
    """The GPU's name from nvidia-smi, or None without one."""
    return command_output(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])


def commit():
    """$ALIBI_COMMIT (set where the checkout has no .git), else git's HEAD, else None."""
    return os.environ.get("ALIBI_COMMIT") or command_output(["git", "rev-parse", "HEAD"])
