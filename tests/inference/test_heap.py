"""n2n.heap: while a network runs, glibc keeps large freed blocks for the next layer instead of
mapping them afresh (page faults); outside a network call blocks are mapped as usual; after the
job's last holder the memory goes back to the system."""

from __future__ import annotations

import resource
import threading

import numpy as np
import pytest
import torch

from n2n import heap
from n2n.inference.denoiser import Denoiser
from n2n.models import ModelConfig, build_model

BLOCK = 64 * 2**20  # bytes: above glibc's default mmap threshold (at most 32 MiB)
PAGES = BLOCK // resource.getpagesize()

pytestmark = pytest.mark.skipif(heap._HOLDERS.libc is None, reason="glibc only")


def touched_block() -> torch.Tensor:
    """A 64 MiB block, every page written."""
    return torch.empty(BLOCK // 4).fill_(1.0)


def faults_of_a_block_made_again() -> int:
    """Minor page faults while a 64 MiB block is made after the same was made and freed
    twice (as a network's layers and windows come one after another)."""
    for _ in range(2):
        block = touched_block()
        del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = touched_block()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del block
    return faults


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def test_a_network_calls_blocks_are_reused_without_page_faults():
    with heap.heap_kept(), heap.layers_on_heap():
        kept = faults_of_a_block_made_again()
    assert kept < PAGES // 10, f"{kept} page faults for a block of {PAGES} pages"


def test_outside_a_network_call_large_blocks_are_mapped_as_usual():
    """Long-lived image-sized buffers stay out of the heap the layers share."""
    with heap.heap_kept():
        mapped = faults_of_a_block_made_again()
    assert mapped > PAGES // 2


def test_the_jobs_last_holder_returns_the_free_memory_to_the_system():
    with heap.heap_kept():
        with heap.layers_on_heap():
            block = touched_block()
            del block
        held = resident_bytes()
    assert held - resident_bytes() > BLOCK // 2  # the freed block left the process


def test_holders_are_counted_so_an_early_leaver_does_not_end_anothers_hold():
    first, second = heap.heap_kept(), heap.heap_kept()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    try:
        with heap.layers_on_heap():
            assert faults_of_a_block_made_again() < PAGES // 10
    finally:
        second.__exit__(None, None, None)
    assert all(count == 0 for count in heap._HOLDERS.count.values())


def test_threads_holding_at_once_leave_the_counts_at_zero():
    def hold() -> None:
        for _ in range(50):
            with heap.heap_kept(), heap.layers_on_heap():
                pass

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(count == 0 for count in heap._HOLDERS.count.values())


def test_a_denoiser_runs_each_window_with_the_heap_kept_and_lets_go_after():
    model = build_model(ModelConfig(arch="lite", channels=3, width=8, depth=2), seed=0).eval()
    seen = []
    forward = model.net.forward
    model.net.forward = lambda x: (seen.append(dict(heap._HOLDERS.count)), forward(x))[1]
    Denoiser(model, "cpu", tile=16)(np.random.default_rng(0).uniform(0, 255, (40, 40, 3)))
    assert len(seen) > 1  # tiled: the heap is held across windows
    assert all(counts[heap.NO_TRIM] >= 1 and counts[heap.NO_MMAP] >= 1 for counts in seen)
    assert all(count == 0 for count in heap._HOLDERS.count.values())
