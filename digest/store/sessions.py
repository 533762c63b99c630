"""Editors' sign-in sessions, kept server-side so that signing out or removing an
account ends them at once.

    P:editor:session:{sha256(id)}        string Session JSON; expires when idle, never after its end
    P:editor:sessions:{sha256(email)}    zset   that account's session keys, scored by their end

The cookie holds the random id; Redis holds only its hash, so a copy of the
database signs nobody in. Addresses are hashed in key names, as in store/limits.py.
"""

from __future__ import annotations

import hashlib
import time

from pydantic import BaseModel

from digest.store.base import StoreBase


class Session(BaseModel):
    email: str
    csrf: str  # the token every form of this session carries
    created: float  # Unix time of the sign-in
    ends: float  # Unix time after which it is refused, however busy


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SessionStore(StoreBase):
    def _session_key(self, session_id: str) -> str:
        return self.key("editor", "session", _digest(session_id))

    def _index_key(self, email: str) -> str:
        return self.key("editor", "sessions", _digest(email)[:32])

    def create_session(self, session_id: str, session: Session, idle: float) -> None:
        key = self._session_key(session_id)
        index = self._index_key(session.email)
        with self.r.pipeline() as pipe:
            pipe.set(key, session.model_dump_json(), px=_ttl_ms(session, idle))
            pipe.zremrangebyscore(index, "-inf", time.time())  # sessions that ended on their own
            pipe.zadd(index, {key: session.ends})
            pipe.zrange(index, -1, -1, withscores=True)
            last = pipe.execute()[-1]
        self.r.expireat(index, int(last[0][1]) + 1)  # the index lasts as long as its longest session

    def read_session(self, session_id: str, idle: float) -> Session | None:
        """The session, its idle time restarted; None when unknown, idle too long or past its end."""
        key = self._session_key(session_id)
        raw = self.r.get(key)
        if raw is None:
            return None
        session = Session.model_validate_json(raw)
        ttl = _ttl_ms(session, idle)
        if ttl <= 0:
            self.r.delete(key)
            return None
        self.r.pexpire(key, ttl)
        return session

    def delete_session(self, session_id: str) -> None:
        self.r.delete(self._session_key(session_id))

    def delete_sessions_of(self, email: str) -> int:
        """End every session of an account (signed out everywhere); returns how many were live."""
        index = self._index_key(email)
        keys = self.r.zrange(index, 0, -1)
        with self.r.pipeline() as pipe:
            if keys:
                pipe.delete(*keys)
            pipe.delete(index)
            live = pipe.execute()[0] if keys else 0
        return int(live)


def _ttl_ms(session: Session, idle: float) -> int:
    """Until the idle time runs out or the session ends, whichever is first."""
    return int(min(idle, session.ends - time.time()) * 1000)
