"""Subscriber imports started from the editors' app: their progress, outcome and refused rows.

    P:importjob:{id}            hash  list, account, file, size, done (bytes read), state
                                      (running | done | failed), error, summary (JSON), started,
                                      updated (Unix time: a running job not updated for
                                      STALE_SECONDS died with its process)
    P:importjob:{id}:problems   list  "line|reason", the first MAX_PROBLEMS_KEPT in line order
    P:list:{L}:importjobs       list  the list's job ids, newest first (the last MAX_JOBS_KEPT)
    P:list:{L}:importing        string  the running job's id: one import per list at a time

Every key expires after JOB_TTL: a report is for reading now, the subscribers it
wrote stay.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from digest.store.base import StoreBase

JOB_TTL = 7 * 86400
MAX_PROBLEMS_KEPT = 1000  # shown on the page; the summary counts them all
MAX_JOBS_KEPT = 10
STALE_SECONDS = 300  # a running job writes progress every chunk (2,000 rows): seconds apart


@dataclass
class ImportJob:
    id: str
    list_slug: str
    account: str
    file: str
    size: int
    done: int
    state: str  # running | done | failed | stopped (a running job whose process died)
    error: str
    summary: dict[str, int]
    started: float
    updated: float
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return 100 if self.state == "done" or not self.size else min(100, self.done * 100 // self.size)


class ImportJobStore(StoreBase):
    def start_import_job(self, job_id: str, list_slug: str, account: str, file: str, size: int) -> bool:
        """Record a new running job; False when the list has one running already."""
        running = self.key("list", list_slug, "importing")
        claimed: list[bool] = []

        def claim(pipe: redis.client.Pipeline) -> None:  # under WATCH: two uploads at once, one wins
            holder = pipe.get(running)
            if holder:
                # the holder's job lies in another slot on a cluster: read it outside the WATCH
                state, updated = self.r.hmget(self.key("importjob", holder), "state", "updated")
                if state == "running" and time.time() - float(updated or 0) <= STALE_SECONDS:
                    claimed[:] = [False]
                    return
            pipe.multi()
            pipe.set(running, job_id, ex=JOB_TTL)
            claimed[:] = [True]

        self.r.transaction(claim, running)
        if not claimed[0]:
            return False
        now = time.time()
        key = self.key("importjob", job_id)
        with self.r.pipeline(transaction=False) as pipe:  # two slots on a cluster; the job's hash first
            pipe.hset(key, mapping={"list": list_slug, "account": account, "file": file[:200], "size": size,
                                    "done": 0, "state": "running", "error": "", "summary": "{}",
                                    "started": now, "updated": now})
            pipe.expire(key, JOB_TTL)
            pipe.lpush(self.key("list", list_slug, "importjobs"), job_id)
            pipe.ltrim(self.key("list", list_slug, "importjobs"), 0, MAX_JOBS_KEPT - 1)
            pipe.expire(self.key("list", list_slug, "importjobs"), JOB_TTL)
            pipe.execute()
        return True

    def import_progress(self, job_id: str, done: int, problems: list[tuple[int, str]]) -> None:
        """Bytes read so far, and the refused rows reported since the last call."""
        key = self.key("importjob", job_id)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping={"done": done, "updated": time.time()})
            if problems:
                pkey = self.key("importjob", job_id, "problems")
                pipe.rpush(pkey, *(f"{line}|{reason}" for line, reason in problems))
                pipe.ltrim(pkey, 0, MAX_PROBLEMS_KEPT - 1)
                pipe.expire(pkey, JOB_TTL)
            pipe.execute()

    def finish_import_job(self, job_id: str, list_slug: str, summary: dict[str, int] | None, error: str = "") -> None:
        key = self.key("importjob", job_id)
        with self.r.pipeline() as pipe:
            pipe.hset(key, mapping={"state": "failed" if error else "done", "error": error[:1000],
                                    "summary": json.dumps(summary or {}), "updated": time.time()})
            pipe.execute()
        # Free the list for the next import, unless another job took over meanwhile.
        running = self.key("list", list_slug, "importing")
        if self.r.get(running) == job_id:
            self.r.delete(running)

    def import_job(self, job_id: str, *, problems: bool = True) -> ImportJob | None:
        raw: dict[str, Any] = self.r.hgetall(self.key("importjob", job_id))
        if not raw:
            return None
        state, updated = raw["state"], float(raw["updated"])
        if state == "running" and time.time() - updated > STALE_SECONDS:
            state = "stopped"
        job = ImportJob(id=job_id, list_slug=raw["list"], account=raw["account"], file=raw["file"],
                        size=int(raw["size"]), done=int(raw["done"]), state=state, error=raw["error"],
                        summary=json.loads(raw["summary"]), started=float(raw["started"]), updated=updated)
        if problems:
            for entry in self.r.lrange(self.key("importjob", job_id, "problems"), 0, MAX_PROBLEMS_KEPT - 1):
                line, _, reason = entry.partition("|")
                job.problems.append((int(line), reason))
        return job

    def import_jobs(self, list_slug: str) -> list[ImportJob]:
        """The list's recent imports, newest first (without their refused rows)."""
        ids = self.r.lrange(self.key("list", list_slug, "importjobs"), 0, MAX_JOBS_KEPT - 1)
        jobs = (self.import_job(i, problems=False) for i in ids)
        return [j for j in jobs if j is not None]
