"""Progress of a sweep: the observer hooks (the library stays silent) and their Rich rendering."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bcbench.record import RunRecord
from bcbench.sweep.plan import PlannedRun


class SweepObserver(Protocol):
    """Progress hooks; the CLI renders them with Rich, the library stays silent."""

    def sweep_started(self, total: int, done: int, todo: int) -> None: ...
    def sweep_progress(self, done: int, total: int, mine: int) -> None: ...
    def data_loading(self, done: int, total: int) -> None: ...
    def run_started(self, planned: PlannedRun, position: int, todo: int) -> None: ...
    def epoch_finished(self, planned: PlannedRun, entry: dict[str, Any]) -> None: ...
    def run_finished(self, planned: PlannedRun, record: RunRecord) -> None: ...


class SilentObserver:
    def sweep_started(self, total: int, done: int, todo: int) -> None:
        pass

    def sweep_progress(self, done: int, total: int, mine: int) -> None:
        pass

    def data_loading(self, done: int, total: int) -> None:
        pass

    def run_started(self, planned: PlannedRun, position: int, todo: int) -> None:
        pass

    def epoch_finished(self, planned: PlannedRun, entry: dict[str, Any]) -> None:
        pass

    def run_finished(self, planned: PlannedRun, record: RunRecord) -> None:
        pass


class RunsEta:
    """The time left, from the runs finished since this worker started (by any worker): their mean pace,
    not Rich's 30-second speed window, which never fills when every run takes longer than that."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.done_at_start: int | None = None

    def text(self, done: int, total: int) -> str:
        if self.done_at_start is None:
            self.done_at_start = done
        finished = done - self.done_at_start
        if finished <= 0 or done >= total:
            return "ETA -" if done < total else ""
        seconds = (self.clock() - self.started) / finished * (total - done)
        return f"ETA {int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"


class RichObserver:
    """The sweep's runs bar (every worker's runs) with its ETA, the current run's epoch bar, and one line
    per run this process finished (prefixed with ``label`` when several workers share a terminal).
    ``bars`` off: the lines only (the other processes of an ``accelerate launch``)."""

    def __init__(self, console: Console, label: str = "", bars: bool = True) -> None:
        self.console = console
        self.prefix = f"[dim]{label}[/] " if label else ""
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            transient=True,
            disable=not bars,
        )
        self.eta = RunsEta()
        self.runs_task: Any = None
        self.epoch_task: Any = None
        self.data_task: Any = None

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def sweep_started(self, total: int, done: int, todo: int) -> None:
        self.console.print(f"{self.prefix}{done} of {total} runs done, running {todo}")
        eta = self.eta.text(done, total)
        self.runs_task = self.progress.add_task("runs", total=total, completed=done, status="", eta=eta)

    def sweep_progress(self, done: int, total: int, mine: int) -> None:
        """Runs recorded by any worker so far; ``mine``: by this one."""
        if self.runs_task is not None:
            status, eta = f"{mine} by this worker", self.eta.text(done, total)
            self.progress.update(self.runs_task, completed=done, total=total, status=status, eta=eta)

    def data_loading(self, done: int, total: int) -> None:
        if self.data_task is None:
            self.data_task = self.progress.add_task("decoding images", total=total, status="", eta="")
        self.progress.update(self.data_task, completed=done, visible=done < total)

    def run_started(self, planned: PlannedRun, position: int, todo: int) -> None:
        label = f"{planned.spec.model} seed {planned.spec.seed}"
        epochs = planned.config.train.epochs
        if self.epoch_task is None:
            self.epoch_task = self.progress.add_task(label, total=epochs, status="", eta="")
        self.progress.reset(self.epoch_task, total=epochs, description=label, status="", eta="")  # all fields

    def epoch_finished(self, planned: PlannedRun, entry: dict[str, Any]) -> None:
        status = (
            f"loss {entry['train_loss']:.3f} val_loss {entry['val_loss']:.3f} val_acc {entry['val_acc']:.3f}"
        )
        self.progress.update(self.epoch_task, advance=1, status=status)

    def run_finished(self, planned: PlannedRun, record: RunRecord) -> None:
        self.progress.advance(self.runs_task)
        name = f"{planned.spec.model} seed {planned.spec.seed}"
        if record.ok and record.test is not None:
            test = record.test
            seconds = (record.cost.train_seconds if record.cost else None) or 0.0
            self.console.print(
                f"{self.prefix}[green]ok[/] {name}: acc {test.accuracy:.3f} macro-F1 {test.f1_macro:.3f} "
                f"({record.epochs_run} epochs, {seconds:.1f} s)",
                highlight=False,
            )
        else:
            self.console.print(f"{self.prefix}[red]failed[/] {name}: {record.error}", highlight=False)
