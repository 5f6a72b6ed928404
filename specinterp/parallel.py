"""``specinterp explain`` on many files at once: worker processes on one machine, torchrun's ranks across machines.

Workers (``--workers N``). N spawned processes each build their own :class:`~specinterp.batch.Producer`
(plugins and model loaded once, ``cores // N`` torch threads) and explain and render one input at a
time into a staging slot the command reserved for it. The command itself stays the only writer of
``OUT`` and its manifest: it decides the skips, hands out the rest, and places each input's files and
prints its lines in input order, at most ``2 N`` inputs ahead of the one it waits for.

Ranks (torchrun, ``WORLD_SIZE > 1``). Rank 0 scans the inputs and shares the list; rank R explains
``items[R::world]`` (with its own workers, if asked) and appends to its own manifest file; at the end
every rank gathers all ranks' tallies, so each exits with the whole job's code and rank 0 prints its
summary. The collectives run on a gloo group with a long timeout: a rank that ends early waits for
the slowest.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Any, TypeVar

from specinterp.batch import Item, Produced, Producer, Request, Tally

WAIT = timedelta(days=7)  # how long a rank may wait for the others (gloo's default, 30 minutes, is too short)
WORKER_DIED = ("a worker process died while explaining this file or one beside it (killed, or out of memory?); "
               "--resume redoes it")

T = TypeVar("T")


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` processes, sharing this machine's cores with the other local ranks."""
    return max(1, cores() // (workers * int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


_producer: Producer | None = None  # a worker process's own


def _start(request: Request, threads: int) -> None:
    """A worker's initializer: Ctrl-C is the command's to handle; load the plugins and the model once."""
    global _producer
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _producer = Producer(request)


def _attempt(item: Item, slot: Path) -> Produced | str:
    return _producer.attempt(item, slot)


@dataclass
class Task:
    """One input handed to a worker, and the slot its files are rendered into."""

    future: Future
    slot: Path

    def result(self) -> Produced | str:
        """What the worker made, or a one-line reason the input failed (its worker's death included)."""
        try:
            return self.future.result()
        except BrokenProcessPool:
            return WORKER_DIED


class Pool:
    """``workers`` spawned processes explaining one input each at a time; a pool whose worker died is replaced.

    Leaving it by an exception (Ctrl-C) ends the workers at once, without waiting for their inputs.
    """

    def __init__(self, request: Request, workers: int):
        self.request, self.workers = request, workers
        self.ahead = 2 * workers  # inputs handed out and not yet placed, so no worker waits for the next
        self._before = set(active_children())
        self.executor = self._executor()

    def _executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_start,
                                   initargs=(self.request, threads_per_worker(self.workers)))

    def submit(self, item: Item, slot: Path) -> Task:
        try:
            return Task(self.executor.submit(_attempt, item, slot), slot)
        except BrokenProcessPool:
            self.executor.shutdown(wait=False)
            self.executor = self._executor()
            return Task(self.executor.submit(_attempt, item, slot), slot)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind, *_exc) -> None:
        if kind is None:
            self.executor.shutdown()
            return
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in set(active_children()) - self._before:
            process.terminate()


def ordered(items: Iterable[Item], decide: Callable[[Item], T | None], start: Callable[[Item], Task],
            ahead: int) -> Iterator[tuple[Item, T | Task]]:
    """Each item with ``decide(item)``, or where that is None with ``start(item)``'s task; in input order,
    with at most ``ahead`` tasks started and not yet handed out. Items are decided as they are reached."""
    queue: deque[tuple[Item, T | Task, bool]] = deque()
    source = iter(items)
    running = 0
    while True:
        while running < ahead and (item := next(source, None)) is not None:
            decision = decide(item)
            queue.append((item, start(item), True) if decision is None else (item, decision, False))
            running += decision is None
        if not queue:
            return
        item, value, started = queue.popleft()
        running -= started
        yield item, value


class Ranks:
    """This process's place in a torchrun job (rank 0 of 1 without one), and what the ranks share."""

    def __init__(self) -> None:
        self.rank, self.world, self.group = 0, 1, None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            import torch.distributed as dist

            from specinterp.training import init_distributed

            place = init_distributed(torch.device("cpu"))  # gloo, as training joins
            self.rank, self.world = place.rank, place.world
            self.group = dist.new_group(backend="gloo", timeout=WAIT)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def manifest_rank(self) -> int | None:
        """The rank whose manifest file this process writes (None: the shared one, when alone)."""
        return self.rank if self.world > 1 else None

    def mine(self, items: Sequence[Item]) -> list[Item]:
        """This rank's share: every ``world``-th item from its rank."""
        return list(items[self.rank :: self.world])

    def share(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank."""
        if self.group is None:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def combine(self, tally: Tally, items: Sequence[Item]) -> Tally:
        """Every rank's tally as one, failures in input order (the inputs that gave no files first)."""
        if self.group is None:
            return tally
        import torch.distributed as dist

        tallies: list[Tally | None] = [None] * self.world
        dist.all_gather_object(tallies, tally, group=self.group)
        position = {item.source: i for i, item in enumerate(items)}
        whole = Tally(audio=sum(t.audio for t in tallies))
        for part in tallies:
            whole.counts.update(part.counts)
        whole.failures = sorted((f for t in tallies for f in t.failures), key=lambda f: position.get(f[0], -1))
        return whole

    def close(self) -> None:
        """Leave the torchrun process group."""
        if self.group is not None:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.group = None
