"""kfp.local's console output, split into one log file per task and one line per finished task."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_ERROR_LINE = re.compile(r"^\s*error: (.*)$")
PIPELINE_LOG = "pipeline.log"


@dataclass(frozen=True)
class Step:
    """A task of a local run that finished: its name, status (SUCCESS or FAILURE) and duration."""

    name: str
    status: str
    seconds: float


class StepLog(io.TextIOBase):
    """A text stream for kfp.local's stdout: every line goes (without colours) to `log_dir/<task>.log`
    while a task runs and to `log_dir/pipeline.log` otherwise; `on_step` hears of each finished task."""

    def __init__(self, log_dir: Path, on_step: Callable[[Step], None]) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self._on_step = on_step
        self._pending = ""
        self._pipeline_log = (log_dir / PIPELINE_LOG).open("a")
        self._file: TextIO = self._pipeline_log
        self._task: str | None = None
        self._started = 0.0
        self._last_error: str | None = None
        self._failed: str | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(_ANSI.sub("", line))
        return len(text)

    def _line(self, line: str) -> None:
        started = _STARTED.search(line)
        if started:
            self._task, self._started, self._last_error = started[1], time.perf_counter(), None
            self._file = (self.log_dir / f"{started[1]}.log").open("a")
        self._file.write(line + "\n")
        error = _ERROR_LINE.match(line)
        if error and self._task:
            self._last_error = error[1]
        finished = _FINISHED.search(line)
        if finished:
            self._finish(finished[2])

    def _finish(self, status: str) -> None:
        if self._task is None:
            return
        self._on_step(Step(self._task, status, time.perf_counter() - self._started))
        if status != "SUCCESS":
            reason = self._last_error or "see its log"
            self._failed = (
                f"task {self._task} failed: {reason}; its log: {self.log_dir / f'{self._task}.log'}"
            )
        if self._file is not self._pipeline_log:
            self._file.close()
        self._file, self._task = self._pipeline_log, None

    def failure(self, exc: BaseException) -> str:
        """What failed, for a one-line error: the failed task, its own error line and its log file."""
        if self._task is not None:
            self._finish("FAILURE")
        return self._failed or _ANSI.sub("", str(exc)).replace("\n", " ")

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pending:
            self._line(_ANSI.sub("", self._pending))
        if self._file is not self._pipeline_log:
            self._file.close()
        self._pipeline_log.close()
        super().__exit__(kind, value, trace)
