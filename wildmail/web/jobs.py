"""Background jobs for long dashboard actions (CSV import, campaign creation, scheduling a list).

A job runs in a thread of the web process; its progress lives in memory, in this registry, and the
job page polls it as JSON (``static/jobs.js``). Memory rather than a table, because a job is only
alive in the process that runs it: a row would outlive a restarted server and say "running" for
ever, while the work itself is safe to run again (an import commits chunk by chunk and skips rows
already there; a campaign is created or scheduled in one transaction). The web app is served by one
process (``wildmail serve``), so every request sees the same registry.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RUNNING, DONE, FAILED = "running", "done", "failed"
KEEP_FINISHED = 200  # finished jobs kept for their pages and downloads (oldest dropped first)
# A job that ends within this time is answered at once (its result, no progress page flashing by);
# a longer one sends the browser to its progress page.
GRACE_SECONDS = 1.5


@dataclass
class Job:
    """One background action and its progress; the worker thread updates it, pages read it."""

    id: str
    kind: str
    title: str
    owner: int
    started: float = field(default_factory=time.monotonic)
    state: str = RUNNING
    phase: str = "starting"
    rows: int = 0
    rejects: int = 0
    done_bytes: int = 0
    total_bytes: int | None = None
    finished: float | None = None
    message: str = ""
    result_url: str = ""
    figures: dict[str, int] = field(default_factory=dict)
    rejects_csv: str = ""
    reject_lines: list[tuple[int, str]] = field(default_factory=list)  # the first rejects: line, reason
    form: dict[str, str] = field(default_factory=dict)
    # The page a failed job shows instead of the plain message (e.g. the form again, as typed).
    on_failure: Callable[[Any, Job], Any] | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.rows and self.seconds > 0 else 0.0

    @property
    def percent(self) -> int | None:
        """Share of the input read, when its size is known."""
        if self.state != RUNNING:
            return 100
        if not self.total_bytes:
            return None
        return min(99, int(100 * self.done_bytes / self.total_bytes))

    def snapshot(self) -> dict[str, Any]:
        """What the job page's script reads."""
        return {
            "state": self.state,
            "phase": self.phase,
            "rows": self.rows,
            "rejects": self.rejects,
            "rate": round(self.rows_per_second),
            "percent": self.percent,
            "seconds": round(self.seconds, 1),
            "message": self.message,
        }


Work = Callable[[Job], str]
"""The job's body: updates the job as it goes and returns the URL of its result."""


class UserMistake(Exception):
    """Raised by a job's body for a message meant for the user (the job fails with it)."""


class Jobs:
    """The registry of this process's jobs."""

    def __init__(self, keep: int = KEEP_FINISHED, grace: float = GRACE_SECONDS) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep
        self.grace = grace

    def start(self, kind: str, title: str, owner: int, work: Work, **fields: Any) -> Job:
        """Create a job and run ``work`` on a daemon thread."""
        job = Job(id=secrets.token_urlsafe(12), kind=kind, title=title, owner=owner, **fields)
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        thread = threading.Thread(target=self._run, args=(job, work), name=f"job-{kind}", daemon=True)
        thread.start()
        return job

    def _run(self, job: Job, work: Work) -> None:
        try:
            job.result_url = work(job)
            job.state = DONE
        except UserMistake as exc:
            job.message, job.state = str(exc), FAILED
        except Exception as exc:  # an operational failure: say so on the page, keep the server up
            job.message, job.state = f"the job failed: {type(exc).__name__}: {exc}", FAILED
        finally:
            job.phase = "finished"
            job.finished = time.monotonic()
            job.ended.set()

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state != RUNNING]
        for key in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[key]

    def get(self, job_id: str, owner: int) -> Job | None:
        """The job, only for the user who started it."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def wait(self, job_id: str, timeout: float = 30.0) -> Job:
        """Block until the job has finished (for tests); raises ``TimeoutError`` if it has not."""
        job = self._jobs[job_id]
        if not job.ended.wait(timeout):
            raise TimeoutError(f"job {job.kind} still running after {timeout} s")
        return job
