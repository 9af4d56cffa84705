"""The process a training job runs in: what `TrainingQueue` starts, one at a time.

    python -m predictor.training_process --config PATH --models-dir PATH --params JSON
        [--examples CSV] [--nice N] [--parent-pid PID]

It first arranges to be killed when the serving process dies (however it dies: a
training nobody waits for would publish a version no job records, outside the one
training slot), lowers its own CPU priority, so serving keeps its latency, and offers
itself first to the kernel's OOM killer, so a training that outgrows a memory limit (the
compose stack's) fails its job instead of killing the server; then it trains and
publishes one version. Success: one JSON line on stdout, `{"version",
"metrics"}`. Failure: exit status 1 and one line on stderr saying why. Only declarative
inputs reach it (a checked recipe, parameters and labelled rows), never code.
"""

import argparse
import contextlib
import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from predictor.model_store import ModelStore
from predictor.training import train
from predictor.training_config import TrainingConfig, TrainingParams

FAILURE_PREFIX = "TRAINING_FAILED "
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
OOM_SCORE_ADJ_MAX = 1000  # proc(5): the highest adjustment; the OOM killer picks it first
OOM_SCORE_ADJ = Path("/proc/self/oom_score_adj")


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when `parent_pid` (its parent) dies; exit now if it already did."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        sys.exit(1)


def oom_kill_first() -> None:
    """Be the process the OOM killer picks when memory runs out (raising one's own score
    needs no privilege); where there is no /proc, nothing."""
    with contextlib.suppress(OSError):
        OOM_SCORE_ADJ.write_text(str(OOM_SCORE_ADJ_MAX))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m predictor.training_process")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--params", required=True, help="TrainingParams as JSON")
    parser.add_argument("--examples", type=Path, help="extra rows, a text,label CSV")
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, help="die when this process does")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    os.nice(args.nice)
    oom_kill_first()
    try:
        params = TrainingParams.model_validate_json(args.params)
        config = TrainingConfig.from_file(args.config).with_params(params)
        examples = args.examples.read_bytes() if args.examples else None
        published = train(config, ModelStore(args.models_dir), examples)
    except Exception as error:
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        print(FAILURE_PREFIX + reason, file=sys.stderr)
        return 1
    print(json.dumps({"version": published.version, "metrics": published.metadata["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
