import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_fake_gtzan
from specinterp import weights
from specinterp.cli import cli

TRAIN = ["train", "--model", "camcnn", "--split", "random", "--epochs", "4", "--batch-size", "8",
         "--crops-per-clip", "4"]


@pytest.fixture(scope="module")
def fake_gtzan(tmp_path_factory):
    return make_fake_gtzan(tmp_path_factory.mktemp("data") / "gtzan")


@pytest.fixture(scope="module")
def trained(fake_gtzan, tmp_path_factory):
    """One short training run shared by this module's tests (with its own feature cache)."""
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPECINTERP_CACHE", str(out / "cache"))
        result = CliRunner().invoke(cli, [*TRAIN, "--data", str(fake_gtzan), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_training_writes_best_checkpoint_with_provenance(trained, fake_gtzan):
    path = trained / "camcnn-random.safetensors"
    loaded = weights.resolve("camcnn", path)
    meta = loaded.meta
    assert meta["seed"] == 0 and meta["split"] == "random" and len(meta["split_digest"]) == 12
    assert len(meta["train_ids"]) == 18 and len(meta["valid_ids"]) == 3
    assert meta["torch"].startswith("2.") and "git_commit" in meta
    history = json.loads((trained / "camcnn-random.history.json").read_text())
    assert len(history) == 4
    best = max(h["valid_balanced_accuracy"] for h in history)
    assert meta["valid"]["balanced_accuracy"] == best
    assert history[-1]["loss"] < history[0]["loss"]  # it learns something
    lists = trained / "split-random-seed0"
    assert sorted(p.name for p in lists.iterdir()) == ["test.txt", "train.txt", "valid.txt"]
    assert set(lists.joinpath("train.txt").read_text().split()) == set(meta["train_ids"])


def test_training_is_reproducible(trained, fake_gtzan, tmp_path, cache):
    again = tmp_path / "again"
    CliRunner().invoke(cli, [*TRAIN, "--data", str(fake_gtzan), "--out", str(again)])
    first = json.loads((trained / "camcnn-random.history.json").read_text())
    second = json.loads((again / "camcnn-random.history.json").read_text())
    assert [h["loss"] for h in first] == pytest.approx([h["loss"] for h in second], rel=1e-5)


def test_evaluate_reports_and_refuses_leaks(trained, fake_gtzan, tmp_path, cache):
    weights_path = str(trained / "camcnn-random.safetensors")
    out = tmp_path / "eval"
    result = CliRunner().invoke(cli, ["evaluate", "--model", "camcnn", "--weights", weights_path, "--data",
                                      str(fake_gtzan), "--split", "random", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clips"] == 3 and 0.0 <= report["accuracy"] <= 1.0
    assert sum(row["clips"] for row in report["per_class"].values()) == 3
    assert np.array(report["confusion"]).sum() == 3
    assert (out / "camcnn-random-test.confusion.png").stat().st_size > 5000
    leak = CliRunner().invoke(cli, ["evaluate", "--model", "camcnn", "--weights", weights_path, "--data",
                                    str(fake_gtzan), "--split", "random", "--part", "train", "--out", str(out)])
    assert leak.exit_code == 1 and "were used to train these weights" in leak.output


def test_refit_on_train_and_valid_keeps_the_last_epoch(fake_gtzan, tmp_path, cache):
    out = tmp_path / "refit"
    result = CliRunner().invoke(cli, [*TRAIN[:6], "3", *TRAIN[7:], "--data", str(fake_gtzan), "--out", str(out),
                                      "--fit", "train+valid", "--recipe", "mixup=0.4", "--recipe", "schedule=constant"])
    assert result.exit_code == 0, result.output
    meta = weights.resolve("camcnn", out / "camcnn-random.safetensors").meta
    assert len(meta["train_ids"]) == 21 and set(meta["valid_ids"]) <= set(meta["train_ids"])
    assert meta["epoch"] == 3 and meta["valid"] is None
    assert meta["train"]["fit"] == "train+valid" and meta["train"]["mixup"] == 0.4
    history = json.loads((out / "camcnn-random.history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3] and "valid_accuracy" not in history[0]


def test_recipe_refuses_unknown_fields_and_values(fake_gtzan, tmp_path):
    refusals = [("mixups=0.2", "unknown recipe field(s) mixups"), ("schedule=step", "schedule must be one of")]
    for recipe, message in refusals:
        result = CliRunner().invoke(cli, [*TRAIN, "--data", str(fake_gtzan), "--out", str(tmp_path),
                                          "--recipe", recipe])
        assert result.exit_code == 1 and message in result.output


def test_mixup_is_a_convex_pairing():
    from specinterp.training import mixup

    batch = np.random.default_rng(0).normal(size=(6, 1, 4, 4)).astype(np.float32)
    mixed, lam, order = mixup(batch.copy(), np.random.default_rng(1), 0.4)
    assert 0 < lam < 1 and sorted(order) == list(range(6)) and mixed.dtype == np.float32
    np.testing.assert_allclose(mixed, lam * batch + (1 - lam) * batch[order], rtol=1e-6)
