"""Subprocess checks started ahead of their tests, so they run on the second core while the suite uses one.

Most of the suite keeps one core busy (pytest, hypothesis, TensorFlow's small ops: a warm run's CPU time is
~1.2× its wall time on 2 cores). A few tests wait on a fresh process instead: a quick `hw5 report`, the
hand-in script's `--quick` run, the oneDNN canary. Each such process is a Job, registered by its test module
at import:

    early.register("quick-report", fixture="quick_report", needs=("part1", "part2"), prepare=...)

conftest.py starts a job once the collected tests use its `fixture` and every fixture in `needs` is set up
(the trained models: a cold run must not train them twice), at most MAX_RUNNING at a time, in the order their
tests come; the fixture then calls `early.result(name)`, which waits for it (or runs it there and then when
it never started). `prepare(workdir)` returns the command, its working directory and extra environment
variables; output goes to files in workdir (a pipe nobody reads would fill up and stall the child). With
`--bench`, every job that can run is run to its end before the first benchmark and none starts early after
it, and while a model trains none runs (pause/resume): timings must not share the machine. Jobs still
running at the end of the session are killed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Prepared = tuple[list[str], Path, dict[str, str]]   # (argv, cwd, environment additions)


@dataclass
class Job:
    name: str
    fixture: str                           # the fixture that reads the result: no selected test uses it → no job
    prepare: Callable[[Path], Prepared]
    needs: tuple[str, ...] = ()            # fixtures that must be set up before it starts
    timeout: float = 900.0                 # seconds, from its start
    wanted: bool = False
    order: int = 0                         # index of the first selected test that uses it: started in this order
    workdir: Path | None = None
    process: subprocess.Popen | None = None
    started: float = 0.0
    ended: float | None = None             # when first seen finished (polled at every fixture set-up)
    error: BaseException | None = None     # what prepare() or Popen raised: the consuming fixture re-raises it
    done: subprocess.CompletedProcess | None = field(default=None, repr=False)


JOBS: dict[str, Job] = {}
MAX_RUNNING = 2             # jobs at a time: with the suite's own ~1.2 cores, more would only queue for the CPU
READY: set[str] = set()     # fixtures set up so far in this session
FINISHED: dict[str, float] = {}   # this session's finished jobs: name -> seconds from start to end (the report)
PAUSED: list[str] = []      # reasons no job starts early now ("training", "benchmarks"); result() still runs one
_ROOT: list[Path] = []      # this session's scratch directory (one entry once made)


def register(name: str, fixture: str, prepare: Callable[[Path], Prepared], needs=(), timeout: float = 900.0) -> Job:
    """Declare a job (at import of its test module; registering a name again replaces it)."""
    if not callable(prepare):
        raise TypeError(f"prepare must be callable (workdir -> (argv, cwd, env)), got {prepare!r}")
    JOBS[name] = Job(name, fixture, prepare, tuple(needs), timeout)
    return JOBS[name]


def python(code: str, env: dict[str, str] | None = None) -> Callable[[Path], Prepared]:
    """A prepare() that runs `code` with this Python in the job's workdir (which it finds as cwd)."""
    import sys

    return lambda workdir: ([sys.executable, "-c", code], workdir, dict(env or {}))


def plan(items) -> list[str]:
    """Mark the jobs a selected test uses; start those with nothing to wait for. Returns the wanted names,
    in the order their tests come."""
    first_use = {}
    FINISHED.clear()
    for index, item in enumerate(items):
        for name in getattr(item, "fixturenames", ()):
            first_use.setdefault(name, index)
    for job in JOBS.values():
        job.wanted, job.order = job.fixture in first_use, first_use.get(job.fixture, len(items))
    _start_ready()
    return [job.name for job in sorted(JOBS.values(), key=lambda job: job.order) if job.wanted]


def fixture_ready(name: str) -> None:
    """Called after each fixture's set-up: start the wanted jobs that were waiting for it or for a free slot."""
    READY.add(name)
    _start_ready()


def _start_ready() -> None:
    for job in JOBS.values():
        if job.process is not None and job.ended is None and job.process.poll() is not None:
            job.ended = time.perf_counter()
    if PAUSED:
        return
    running = sum(job.process is not None and job.process.poll() is None for job in JOBS.values())
    for job in sorted(JOBS.values(), key=lambda job: job.order):
        if running >= MAX_RUNNING:
            return
        if job.wanted and job.process is None and job.error is None and set(job.needs) <= READY:
            _start(job)
            running += job.process is not None


def _start(job: Job) -> None:
    if not _ROOT:
        _ROOT.append(Path(tempfile.mkdtemp(prefix="hw5-early-")))
    job.workdir = _ROOT[0] / job.name
    try:   # a failure here belongs to the tests that use the job, not to the hook that started it
        job.workdir.mkdir()
        argv, cwd, env = job.prepare(job.workdir)
        with open(job.workdir / "stdout", "wb") as out, open(job.workdir / "stderr", "wb") as err:
            job.process = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, env={**os.environ, **env})
    except Exception as error:
        job.error = error
    job.started = time.perf_counter()


def result(name: str) -> tuple[Path, subprocess.CompletedProcess]:
    """(workdir, the finished process with its text output) of job `name`; starts it now if it never started."""
    job = JOBS[name]
    if job.done is None:
        if job.process is None and job.error is None:
            _start(job)
        if job.error is not None:
            raise RuntimeError(f"early job {name!r} could not start: {job.error!r}") from job.error
        try:
            job.process.wait(timeout=max(0.0, job.timeout - (time.perf_counter() - job.started)))
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()
            raise TimeoutError(f"early job {name!r} ran longer than {job.timeout:.0f} s: {job.process.args}") from None
        read = lambda stream: (job.workdir / stream).read_text(errors="replace")  # noqa: E731
        job.ended = job.ended or time.perf_counter()
        FINISHED[name] = job.ended - job.started
        job.done = subprocess.CompletedProcess(job.process.args, job.process.returncode, read("stdout"),
                                               read("stderr"))
    return job.workdir, job.done


def pause(reason: str) -> None:
    """Let the running jobs finish and start no more until resume(reason): e.g. while a model trains, so the
    training time the report states is the machine's own."""
    PAUSED.append(reason)
    for job in JOBS.values():
        if job.process is not None and job.done is None:
            try:
                result(job.name)
            except TimeoutError:   # killed; the test that reads it fails with it
                pass


def resume(reason: str) -> None:
    if reason in PAUSED:
        PAUSED.remove(reason)
    _start_ready()


def wait_all() -> None:
    """Run every job that can run to its end, then start none early any more (before benchmarks)."""
    for job in sorted(JOBS.values(), key=lambda job: job.order):
        can_run = job.process is not None or (job.wanted and set(job.needs) <= READY)
        if can_run and job.error is None:
            try:
                result(job.name)
            except TimeoutError:   # killed; the test that reads it fails with it
                pass
    PAUSED.append("benchmarks")


def stop_all() -> None:
    """End of session: kill what still runs, remove the scratch directory, forget this session's state."""
    for job in JOBS.values():
        if job.process is not None and job.process.poll() is None:
            job.process.kill()
            job.process.wait()
        job.wanted, job.workdir, job.process, job.done, job.error, job.ended = False, None, None, None, None, None
    READY.clear()
    PAUSED.clear()
    if _ROOT:
        shutil.rmtree(_ROOT.pop(), ignore_errors=True)
