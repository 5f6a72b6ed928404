"""Training scales out with torch.distributed: 2 CPU processes (gloo) end with identical weights."""

import os
import socket
import subprocess
import sys

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, world: int, port: int, data: str, out: str, cache: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), SPECINTERP_CACHE=cache)
    torch.set_num_threads(1)
    from pathlib import Path

    from specinterp import training
    from specinterp.plugins import registry

    reg = registry()
    dataset = reg.datasets["gtzan"].open(Path(data))
    config = training.TrainConfig(epochs=2, batch_size=4, crops_per_clip=2, seed=0)
    _, module = training.train(reg.models["camcnn"], dataset, dataset.split("random", 0), Path(out), config,
                               progress=False, device="cpu", log=lambda line: None)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, os.path.join(out, f"rank{rank}.safetensors"))
    torch.distributed.destroy_process_group()


def test_two_gloo_ranks_end_with_identical_weights(fake_gtzan, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    out.mkdir()
    mp.spawn(worker, args=(2, free_port(), str(fake_gtzan), str(out), str(cache)), nprocs=2, join=True)
    a, b = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    initial = __import__("specinterp.plugins", fromlist=["registry"]).registry().models["camcnn"].build(
        {"classes": 10}).state_dict()
    assert any(not torch.equal(a[k], initial[k]) for k in a if a[k].dtype.is_floating_point)  # it trained
    assert (out / "camcnn-random.safetensors").is_file() and not (out / "rank1").exists()


def test_cli_runs_unchanged_under_torchrun_and_resumes_exactly(fake_gtzan, tmp_path):
    env = {**os.environ, "SPECINTERP_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}

    def torchrun(out, *extra):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                   str(free_port()), "-m", "specinterp", "train", "--model", "camcnn", "--data", str(fake_gtzan),
                   "--batch-size", "4", "--epochs", "2", "--device", "cpu", "--out", str(out), *extra]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
        return done.stdout

    interrupted = torchrun(tmp_path / "a", "--time-limit", "0")
    assert interrupted.count("epoch   1") == 1 and "epoch   2" not in interrupted  # rank 0 alone logs; stopped
    assert "time limit reached after epoch 1" in interrupted
    resumed = torchrun(tmp_path / "a", "--resume")
    assert "resuming after epoch 1" in resumed and "epoch   2" in resumed and "epoch   1 " not in resumed
    uninterrupted = torchrun(tmp_path / "b")
    loss = lambda text: float(text.split("epoch   2  loss ")[1].split()[0])  # noqa: E731
    assert loss(resumed) == loss(uninterrupted)
    a = load_file(str(tmp_path / "a" / "camcnn-random.last.safetensors"))
    b = load_file(str(tmp_path / "b" / "camcnn-random.last.safetensors"))
    assert all(torch.equal(a[key], b[key]) for key in b)


def test_single_process_resume_is_bit_exact(fake_gtzan, tmp_path, cache):
    from click.testing import CliRunner

    from specinterp.cli import cli

    def train(out, *extra):
        result = CliRunner().invoke(cli, ["train", "--model", "camcnn", "--data", str(fake_gtzan), "--batch-size", "4",
                                          "--epochs", "2", "--device", "cpu", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        return result.output

    assert "time limit reached after epoch 1" in train(tmp_path / "a", "--time-limit", "0")
    assert "resuming after epoch 1" in train(tmp_path / "a", "--resume")
    train(tmp_path / "b")
    a = load_file(str(tmp_path / "a" / "camcnn-random.last.safetensors"))
    b = load_file(str(tmp_path / "b" / "camcnn-random.last.safetensors"))
    assert all(torch.equal(a[key], b[key]) for key in b)
    refused = CliRunner().invoke(cli, ["train", "--model", "camcnn", "--data", str(fake_gtzan), "--epochs", "3",
                                       "--out", str(tmp_path / "a"), "--resume"])
    assert refused.exit_code == 1 and "resume with --epochs 2" in refused.output
