"""One import run: rows of a file written into a list, a chunk at a time, in one script each.

    P:list:{L}:import:{run}:seen      hash  email -> the file line it was first on (duplicates), expires
    P:list:{L}:import:{run}:pending   list  new pending addresses, to mail their confirmations after the run

Each chunk of validated rows goes to Redis as one Lua script, which decides
every row against the list as it is at that moment and writes it:

    row's address                          outcome     written
    earlier in this file                   duplicate   nothing (reports the first line)
    not on the list                        new         record (active or pending, by the list's
                                                       opt-in; "suppressed" if suppressed) + evidence
    unsubscribed, bounced, complained,     suppressed  nothing: an import never resubscribes
      suppressed on the list
    active, paused or pending, and now     suppressed  status "suppressed", out of the send groups
      on the suppression list
    active, paused or pending              unchanged   nothing, unless `update`: then its name and
                                           / updated   topics become the row's (status kept)

Why a script: the read (is it on the list?) and the write are one step, so an
unsubscribe or a sign-up arriving mid-import lands before or after a row, never
between its read and its write, and a re-import cannot resurrect anyone. The
suppression list is global (another slot on a Redis Cluster), so each chunk's
entries are read just before its script and handed to it: an address suppressed
in that instant is imported as if it were not, and the send, which reads the
suppression list again after claiming each batch (deliver/ledger.py), skips it.
Why the seen hash in Redis: the importing process keeps nothing per row
between chunks, so its memory stays flat in the file's size (a million addresses
cost Redis ~90 MB for the run, freed at its end or by expiry if it dies).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from redis.connection import Connection

from digest.models import DigestList
from digest.store.subscribers import SubscriberStore

RUN_TTL = 86400  # a run's keys outlive a dead importer by a day at most

# KEYS: subs, profile, seq, seen, masks, pending (all under the list's hash tag).
# ARGV: sel key prefix, status of new rows, their profile JSON ("" for none), created,
#       update (1/0), ttl; then per row: line, email, suppressed (1/0), mask, name.
# Returns one code per row: n new, u updated, = unchanged, s suppressed, x unreadable
# record (left alone), or "d" and the line the address was first on.
# Reads and writes go as one command per key for the whole chunk; the rows are
# decided in between, in file order.
_WRITE = """
local subs, profile, seqkey, seen, masks, pending = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sel, new_status, new_profile, created, update, ttl =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1', ARGV[6]
local left = {unsubscribed = true, bounced = true, complained = true, suppressed = true}
local n = (#ARGV - 6) / 5
local emails = {}
for r = 1, n do emails[r] = ARGV[6 + 5 * r - 3] end
local firsts = redis.call('HMGET', seen, unpack(emails))
local olds = redis.call('HMGET', subs, unpack(emails))
local seq = tonumber(redis.call('GET', seqkey) or '0')
local first_seq = seq
local out, here, seen_rows, records, profiles, asked, add, rem = {}, {}, {}, {}, {}, {}, {}, {}
local function push(t, k, ...)
  local list = t[k]
  if not list then list = {}; t[k] = list end
  for _, v in ipairs({...}) do list[#list + 1] = v end
end
for r = 1, n do
  local line, email, mask, name = ARGV[6 + 5 * r - 4], emails[r], ARGV[6 + 5 * r - 1], ARGV[6 + 5 * r]
  local first = firsts[r] or here[email]
  if first then
    out[r] = 'd' .. first
  else
    here[email] = line
    seen_rows[#seen_rows + 1] = email
    seen_rows[#seen_rows + 1] = line
    local blocked = ARGV[6 + 5 * r - 2] == '1'
    local old = olds[r]
    if not old then
      seq = seq + 1
      local status = new_status
      if blocked then status = 'suppressed' end
      records[#records + 1] = email
      records[#records + 1] = seq .. '|' .. mask .. '|' .. status .. '|' .. created .. '|' .. name
      if new_profile ~= '' then
        profiles[#profiles + 1] = email
        profiles[#profiles + 1] = new_profile
      end
      if status == 'active' then
        push(add, mask, seq, email)
      elseif status == 'pending' then
        asked[#asked + 1] = email
      end
      if blocked then out[r] = 's' else out[r] = 'n' end
    else
      local oseq, omask, ostatus, ocreated, oname = string.match(old, '^(%d+)|(%d+)|(%a+)|(%d+)|(.*)$')
      if not oseq then
        out[r] = 'x'
      elseif left[ostatus] then
        out[r] = 's'
      elseif blocked then
        records[#records + 1] = email
        records[#records + 1] = oseq .. '|' .. omask .. '|suppressed|' .. ocreated .. '|' .. oname
        push(rem, omask, email)
        out[r] = 's'
      elseif update and (omask ~= mask or oname ~= name) then
        records[#records + 1] = email
        records[#records + 1] = oseq .. '|' .. mask .. '|' .. ostatus .. '|' .. ocreated .. '|' .. name
        if ostatus == 'active' and omask ~= mask then
          push(rem, omask, email)
          push(add, mask, oseq, email)
        end
        out[r] = 'u'
      else
        out[r] = '='
      end
    end
  end
end
if #seen_rows > 0 then redis.call('HSET', seen, unpack(seen_rows)) end
redis.call('EXPIRE', seen, ttl)
if #records > 0 then redis.call('HSET', subs, unpack(records)) end
if #profiles > 0 then redis.call('HSET', profile, unpack(profiles)) end
if seq ~= first_seq then redis.call('SET', seqkey, seq) end
for mask, members in pairs(rem) do redis.call('ZREM', sel .. mask, unpack(members)) end
for mask, members in pairs(add) do
  redis.call('ZADD', sel .. mask, unpack(members))
  redis.call('SADD', masks, mask)
end
if #asked > 0 then
  redis.call('RPUSH', pending, unpack(asked))
  redis.call('EXPIRE', pending, ttl)
end
return out
"""
MAX_CHUNK = 2000  # Lua's unpack() takes about 8,000 values: two per row, with room

ImportRow = tuple[int, str, tuple[str, ...], str]  # line, normalised email, topic slugs (() = all), name


class ImportRun:
    """Writes one file's rows into a list (module docstring: what each row does).

    `send` a chunk, then `receive` its outcomes: in between, the caller can read and
    check the next chunk while Redis writes this one (the two share the machine's
    cores instead of taking turns). Chunks are applied, and answered, in order.
    """

    def __init__(
        self, store: SubscriberStore, digest_list: DigestList, *, new_status: str, new_profile: str,
        created: int, update: bool = False,
    ) -> None:
        self.store = store
        self.r = store.r
        self.list = digest_list
        self.new_status = new_status
        run = uuid.uuid4().hex
        slug = digest_list.slug
        self.seen_key = store.key("list", slug, "import", run, "seen")
        self.pending_key = store.key("list", slug, "import", run, "pending")
        self._keys = [store.key("list", slug, "subs"), store.key("list", slug, "profile"),
                      store.key("list", slug, "seq"), self.seen_key, store.key("list", slug, "masks"),
                      self.pending_key]
        self._head = [store.key("list", slug, "sel", ""), new_status, new_profile, created, int(update), RUN_TTL]
        self._masks: dict[tuple[str, ...], int] = {}
        self._node = store.node_client(self._keys[0])  # the server of the list's slot
        self._sha = self._node.script_load(_WRITE)
        self._conn: Connection | None = None
        self._in_flight = 0

    def send(self, rows: Sequence[ImportRow]) -> None:
        """Hand a chunk (topics already checked against the list) to Redis, without waiting."""
        if not 0 < len(rows) <= MAX_CHUNK:
            raise ValueError(f"a chunk has 1 to {MAX_CHUNK} rows (got {len(rows)})")
        args: list[str | int] = [*self._keys, *self._head]
        masks = self._masks
        blocked = self.store.suppressed([email for _, email, _, _ in rows])
        for (line, email, topics, name), is_blocked in zip(rows, blocked, strict=True):
            mask = masks.get(topics)
            if mask is None:
                mask = masks[topics] = self.store.choice_mask(self.list, topics)
            args += (line, email, int(is_blocked), mask, name)
        if self._conn is None:
            self._conn = self._node.connection_pool.get_connection()
        self._conn.send_command("EVALSHA", self._sha, len(self._keys), *args)
        self._in_flight += 1

    def receive(self) -> list[str]:
        """The outcome codes of the oldest chunk sent and not yet received, one per row."""
        if not self._in_flight or self._conn is None:
            raise ValueError("no chunk is waiting for its answer")
        self._in_flight -= 1
        answer = self._conn.read_response()
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    def pending(self, size: int = 1000) -> Iterator[list[str]]:
        """The run's new pending addresses, `size` at a time, each taken off the run as it is read."""
        while batch := self.r.lpop(self.pending_key, size):
            yield list(batch)

    def close(self) -> None:
        """Forget the run's keys; a connection with answers still unread is not reused."""
        if self._conn is not None:
            if self._in_flight:
                self._conn.disconnect()
            self._node.connection_pool.release(self._conn)
            self._conn = None
        self.r.delete(self.seen_key, self.pending_key)
