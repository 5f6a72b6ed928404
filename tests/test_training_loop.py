"""The training loop's pieces: one step (shared with benchmarks/epoch_time.py) and the resume files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from specinterp.interfaces import SpecinterpError
from specinterp.plugins import registry
from specinterp.training import TrainConfig, load_resume_state, make_learner, save_resume_state, train_step

REPO = Path(__file__).resolve().parents[1]


def learner_and_batch(seed: int = 0):
    """A seeded camcnn learner (5 steps of one-cycle schedule) and a batch of 4 random 200-frame log-mels."""
    torch.manual_seed(seed)
    config = TrainConfig(batch_size=4, mixup=0.4)
    learner = make_learner(registry().models["camcnn"].build({"classes": 3}), config, 5, torch.device("cpu"))
    rng = np.random.default_rng(seed)
    specs = [rng.normal(-40, 15, (128, 200)).astype(np.float32) for _ in range(4)]
    return learner, config, specs, np.array([0, 1, 2, 1])


def test_a_step_is_seeded_and_moves_the_weights_and_the_schedule():
    losses, states = [], []
    for _ in range(2):
        learner, config, specs, labels = learner_and_batch()
        before = {k: v.clone() for k, v in learner.module.state_dict().items()}
        lr = learner.optimizer.param_groups[0]["lr"]
        losses.append(train_step(learner, specs, labels, config, np.random.default_rng(1)))
        states.append(learner.module.state_dict())
        assert learner.optimizer.param_groups[0]["lr"] != lr  # the one-cycle schedule stepped
        assert any(not torch.equal(before[k], v) for k, v in states[-1].items())
    assert np.isfinite(losses[0]) and losses[0] == losses[1]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_resume_state_round_trips_and_refuses_a_half_saved_pair(tmp_path):
    learner, config, specs, labels = learner_and_batch()
    train_step(learner, specs, labels, config, np.random.default_rng(1))
    path = tmp_path / "camcnn-random.last.safetensors"
    save_resume_state(path, learner.module, learner.optimizer, learner.schedule, {"epoch": 2, "epochs": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.with_suffix(".json").name, path.name]  # no .part left
    fresh, *_ = learner_and_batch(seed=5)
    assert load_resume_state(path, fresh.module, fresh.optimizer, fresh.schedule) == {"epoch": 2, "epochs": 3}
    assert all(torch.equal(v, fresh.module.state_dict()[k]) for k, v in learner.module.state_dict().items())
    assert fresh.schedule.state_dict() == learner.schedule.state_dict()
    document = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**document, "epoch": 1}))  # killed between the two writes
    half_saved = r"camcnn-random\.last\.safetensors: holds epoch 2 but its \.json epoch 1"
    with pytest.raises(SpecinterpError, match=half_saved):
        load_resume_state(path, fresh.module, fresh.optimizer, fresh.schedule)


def test_epoch_time_benchmark_runs_the_training_step():
    run = subprocess.run([sys.executable, "benchmarks/epoch_time.py", "--smoke"], cwd=REPO, capture_output=True,
                         text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads(next(line for line in run.stdout.splitlines() if line.startswith('{"benchmark"')))
    assert record["windows"] == 16 and record["models"]["camcnn"]["seconds_per_epoch"] > 0
    assert "appended to" not in run.stdout
