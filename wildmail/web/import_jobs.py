"""A CSV import into a list as a background job (:mod:`wildmail.web.jobs`), for the dashboard's
upload and the REST API's: the upload is spooled to a temporary file, the job reads it as a text
stream and reports rows, rejects and the share read as it goes."""

from __future__ import annotations

import codecs
import io
import os
import shutil
import tempfile
from typing import IO

from subscribers.csv_import import import_csv as import_file
from wildmail.runtime.context import AppContext
from wildmail.web.jobs import Job, Jobs, UserMistake

READ_SIZE = 64 * 1024
REJECTS_SHOWN = 200  # on the page; the download has them all


class UploadText(io.TextIOWrapper):
    """An uploaded file read as UTF-8 text, named in messages by the browser's file name."""

    def __init__(self, raw: IO[bytes], filename: str) -> None:
        super().__init__(raw, encoding="utf-8-sig", newline="")
        self.filename = filename

    @property
    def name(self) -> str:
        return self.filename


def is_utf8(raw: IO[bytes]) -> bool:
    """True when the whole file decodes as UTF-8 (read in small blocks; rewound afterwards)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    raw.seek(0)
    try:
        while block := raw.read(READ_SIZE):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        raw.seek(0)
    return True


class CountingRejects(io.StringIO):
    """The rejects CSV in memory; counts the rows written so far (the csv module writes a row in
    one call; the first call is the header)."""

    def __init__(self, job: Job) -> None:
        super().__init__(newline="")
        self._job = job
        self._calls = 0

    def write(self, s: str, /) -> int:
        self._calls += 1
        self._job.rejects = max(0, self._calls - 1)
        return super().write(s)


def spool(upload: IO[bytes]) -> IO[bytes]:
    """A copy of the upload the job can read after this request has ended (and closed the upload)."""
    copy = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the job
    upload.seek(0)
    shutil.copyfileobj(upload, copy, READ_SIZE)
    copy.seek(0)
    return copy


def start_import(
    jobs: Jobs,
    ctx: AppContext,
    *,
    owner: int,
    slug: str,
    title: str,
    raw: IO[bytes],
    filename: str,
    status: str,
    result_url: str,
) -> Job:
    """Import the spooled file ``raw`` into list ``slug`` on a job's thread; the job's figures,
    rejects CSV and first rejects are filled in when it ends."""
    size = os.fstat(raw.fileno()).st_size

    def work(job: Job) -> str:
        rejects = CountingRejects(job)
        source = UploadText(raw, filename)
        job.total_bytes, job.phase = size, "importing"

        def progress(rows: int, _read: int, _total: int | None) -> None:
            job.rows, job.done_bytes = rows, raw.tell()

        try:
            report = import_file(
                ctx.engine,
                source,
                slug,
                status=status,
                rejects=rejects,
                at=ctx.clock.now(),
                progress=progress,
            )
        except (LookupError, ValueError) as exc:
            raise UserMistake(f"Import failed: {exc}") from None
        finally:
            source.close()
        job.rows, job.rejects_csv = report.rows, rejects.getvalue()
        job.rejects = report.rejected
        job.reject_lines = [(x.line, x.reason) for x in report.rejects[:REJECTS_SHOWN]]
        job.figures = {
            "Created": report.created,
            "Updated": report.updated,
            "Joined the list": report.joined,
            "Unchanged": report.unchanged,
            "Suppressed (not added)": report.suppressed,
            "Duplicates": report.duplicates,
            "Rejected": report.rejected,
        }
        return result_url

    return jobs.start("import", title, owner, work)
