"""Runs a lab can leave overnight: bit-identical repeats, resumable after SIGINT/SIGTERM/SIGKILL,
and files that would run code on load refused."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import time
import weakref

import pytest
import torch
from conftest import N2N, n2n, ok

from n2n.data.noise import Gaussian
from n2n.data.pairs import SyntheticPairs
from n2n.io.files import atomic_file
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import load_model, load_record
from n2n.training import distributed
from n2n.training.config import TrainConfig
from n2n.training.distributed import weights_digest
from n2n.training.loop import Interrupted, fit


def small_run(photo):
    clean = torch.from_numpy(photo).permute(2, 0, 1)
    source = SyntheticPairs([clean], Gaussian((25.0, 25.0)), patch_size=32, patches_per_epoch=96)
    config = TrainConfig(model=ModelConfig(width=8, residual=True, linear_output=True), lr=3e-3,
                         batch_size=16, epochs=2, seed=5)
    torch.manual_seed(0)
    return build_model(config.model), source, config


def test_same_seed_same_data_gives_bit_identical_weights(photo):
    digests = []
    for _ in range(2):
        model, source, config = small_run(photo)
        fit(model, source, config, progress=False)
        digests.append(weights_digest(model))
    assert digests[0] == digests[1]
    model, source, config = small_run(photo)
    config.seed = 6
    fit(model, source, config, progress=False)
    assert weights_digest(model) != digests[0]


class SignalAt:
    """A pair source that sends this process ``signum`` while making batch ``at``."""

    def __init__(self, source, at: int, signum: int) -> None:
        self.source, self.at, self.signum, self.channels = source, at, signum, source.channels

    def batches(self, batch_size, generator, shard=(0, 1)):
        for i, batch in enumerate(self.source.batches(batch_size, generator, shard)):
            if i == self.at:
                os.kill(os.getpid(), self.signum)
                self.at = -1  # once
            yield batch

    def stats_sample(self, generator):
        return self.source.stats_sample(generator)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(tmp_path, photo, signum):
    model, source, config = small_run(photo)
    fit(model, source, config, progress=False)
    expected = weights_digest(model)

    model, source, config = small_run(photo)
    with pytest.raises(Interrupted) as stop:
        fit(model, SignalAt(source, 3, signum), config, run_dir=tmp_path, progress=False)
    assert stop.value.signum == signum and stop.value.checkpoint == tmp_path / "last.pt"
    record = load_record(tmp_path / "last.pt")
    # the step under way was finished; batches are prepared ahead (prefetch), so the signal,
    # sent while batch 3 is drawn, can reach the loop a step or two before step 3
    assert record["position"]["epoch"] == 1 and 1 <= record["position"]["step"] <= 4

    model, source, config = small_run(photo)
    history = fit(model, source, config, run_dir=tmp_path, progress=False, resume=record)
    assert [row["epoch"] for row in history] == [1, 2]
    assert weights_digest(model) == expected


def train_args(run, photo_folder, *extra):
    return ["train", run, "--clean", photo_folder, "--noise", "gaussian:25", "--patch-size", "32",
            "--patches-per-epoch", "400", "--batch-size", "8", "--epochs", "3", "--width", "8",
            "--threads", "1", *extra]


def start_and_wait_for_checkpoint(args) -> subprocess.Popen:
    proc = subprocess.Popen([N2N, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    last = args[1] / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "training ended before it could be interrupted"
    return proc


def test_atomic_file_replaces_whole_or_not_at_all_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    with atomic_file(target) as f:
        f.write(b"new")
        if hasattr(os, "O_TMPFILE"):  # Linux: unnamed while written
            assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_atomic_file_is_named_once_complete_never_copied(tmp_path, monkeypatch):
    """Where Linux gives unnamed files (O_TMPFILE) and /proc, the finished file is linked into
    the folder, never copied into a named temporary that a SIGKILL mid-copy would leave half
    written (os.link alone does not follow the /proc link: it once always fell back)."""
    try:
        os.close(os.open(tmp_path, os.O_TMPFILE | os.O_RDWR, 0o600))
    except (AttributeError, OSError):
        pytest.skip("no O_TMPFILE here")
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc here")
    monkeypatch.setattr("n2n.io.files.atomic_path",
                        lambda path: pytest.fail(f"{path}: copied into a named temporary"))
    with atomic_file(tmp_path / "last.pt") as f:
        f.write(b"new")
    assert (tmp_path / "last.pt").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_sigkill_mid_epoch_leaves_a_checkpoint_that_resumes_and_finishes(tmp_path, photo_folder):
    run = tmp_path / "run"
    proc = start_and_wait_for_checkpoint(train_args(run, photo_folder, "--checkpoint-minutes",
                                                    "0.001"))
    time.sleep(0.3)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    record = load_record(run / "last.pt")  # whole, whatever moment the kill came
    assert record["position"]["step"] > 0 or record["position"]["epoch"] > 1
    # a kill between naming a finished checkpoint and moving it into place leaves it, whole
    for left in [p for p in run.iterdir() if p.name.startswith(".")]:
        assert load_record(left)["position"]
    ok("train", run, "--resume")
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # swept by the next run
    log = json.loads((run / "log.json").read_text())
    assert [row["epoch"] for row in log] == [1, 2, 3]


def test_sigterm_writes_a_checkpoint_exits_143_and_resumes_bit_identically(tmp_path,
                                                                          photo_folder):
    ok(*train_args(tmp_path / "whole", photo_folder))
    run = tmp_path / "run"
    proc = start_and_wait_for_checkpoint(train_args(run, photo_folder, "--checkpoint-minutes",
                                                    "0.001"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert "SIGTERM" in err and f"checkpoint written to {run / 'last.pt'}" in err
    assert "--resume" in err
    ok("train", run, "--resume")
    assert len(json.loads((run / "log.json").read_text())) == 3
    digests = {weights_digest(load_model(r / "last.pt")) for r in (run, tmp_path / "whole")}
    assert len(digests) == 1  # same seed, same data: the same weights, interrupted or not


class RunsCode:
    """Unpickling this would create a file: what a malicious checkpoint would do."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("args, what", [
    (("denoise", "{tmp}/img.png", "-o", "{tmp}/out", "--weights", "{tmp}/evil.pt"),
     "not a loadable n2n checkpoint"),
    (("train", "{tmp}/run", "--ee559", "{tmp}/evil.pkl"), "not a loadable EE-559 pkl"),
    (("train", "{tmp}/run", "--clean", "{tmp}", "--val", "{tmp}", "--init", "{tmp}/evil.pt"),
     "not a loadable n2n checkpoint"),
    (("eval", "{tmp}/evil.pkl"), "not a loadable EE-559 pkl"),
])
def test_pickles_that_run_code_are_refused_and_never_run(tmp_path, photo, args, what):
    from n2n.io.images import Image, write_image

    write_image(tmp_path / "img.png", Image(photo))
    marker = tmp_path / "pwned"
    for name in ("evil.pt", "evil.pkl"):
        torch.save({"format": "n2n-lite", "model": RunsCode(marker)}, tmp_path / name)
    result = n2n(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == 2 and what in result.stderr
    assert "evil.p" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)  # an unsafe load would run it
    assert marker.exists()


def test_torchrun_two_cpu_processes_train_one_model(tmp_path, photo_folder):
    torchrun = os.path.join(os.path.dirname(N2N), "torchrun")
    run = tmp_path / "run"
    args = train_args(run, photo_folder)[2:]
    result = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "n2n",
                             "train", str(run), *map(str, args)], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    ranks_own = [line for line in result.stderr.splitlines() if "torch/distributed" not in line]
    assert result.returncode == 0, "\n".join(ranks_own[-40:])  # a rank's abort, not torchrun's
    digests = dict(line.split(": weights sha256 ") for line in result.stdout.splitlines()
                   if "weights sha256" in line)
    assert set(digests) == {"rank 0", "rank 1"}
    assert digests["rank 0"] == digests["rank 1"]  # DDP kept the two replicas identical
    assert result.stdout.count("trained 3 epoch(s)") == 1  # rank 0 alone reports and logs
    log = json.loads((run / "log.json").read_text())
    assert log[-1]["train_loss"] < log[0]["train_loss"]
    assert load_record(run / "last.pt")["position"] == {"epoch": 4, "step": 0}


def test_teardown_really_destroys_the_group_that_ddp_holds_in_a_cycle():
    # DistributedDataParallel ends up in reference cycles (in a real run, a traceback caught
    # during its first construction holds its __init__ frame; here the cycle is made explicit),
    # and its reducer keeps the gloo group; left for the interpreter's exit, the group's threads
    # aborted 1 run in 60.
    torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0,
                                         world_size=1)
    net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    net(torch.ones(1, 2)).sum().backward()
    net.cycle = [net]
    alive = weakref.ref(net)
    gc.disable()
    try:
        del net
        assert alive() is not None  # only the cycle collector can free it
        distributed.teardown()
        assert alive() is None and not torch.distributed.is_initialized()
    finally:
        gc.enable()
        if torch.distributed.is_initialized():  # a failure above must not leak into other tests
            torch.distributed.destroy_process_group()
