-- _lib.lua: the prelude of every workspace script. It is never run alone: the loader prepends
-- it (after one generated line, `local SYSTEM_ACTOR = <msgpack of models.SYSTEM>`) to each
-- workspace script, so all of them meet expiry, build payloads and emit events the same way.
--
-- Conventions of every workspace script:
--   KEYS[1]  the workspace's key base `{prefix}:{org/ws}`. Nothing is stored under it; every
--            key touched is KEYS[1] .. suffix, so all carry the `{org/ws}` hash tag (one slot);
--            the API key scripts alone also touch KEYS[2], KEYS[3] (the org-level key hashes)
--            and emit on the org's credential stream (`models.credentials_stream`).
--   ARGV[1]  a random epoch, used only when the workspace has none (its first event, or its
--            counter was lost)      ARGV[2]  event_log_length (XADD MAXLEN ~)
--   ARGV[3..] the script's own arguments (see each header).
-- Keys under the base:
--   :epoch :seq        strings: the epoch tag and the last offset given
--   :log               stream, entry id `<seq>-0`, field `e` = the event blob
--   :idem:<sha1(key)>  string: the blob first published with an idempotency key (PX window)
--   :ps                hash session_id -> msgpack session (without its expiry; `va`: the
--                      audience of what it views, or absent)
--   :pexp              zset session_id -> expires_at_ms (the one place a session's expiry lives)
--   :pv:<type/id>      set of the session ids viewing that entity
--   :pu:<user_id>      set of a user's session ids (until each is ended: left or swept)
--   :locks             hash `type/id` -> msgpack lease (without its expiry; `aud`: the
--                      audience of its events, or absent)
--   :lexp              zset `type/id` -> expires_at_ms (the one place a lease's expiry lives)
--   :ul:<user_id>      set of the `type/id` a user holds
--   :fence             the fencing counter (only grows)
--   :ch                pub/sub channel of the workspace's events
-- Records, per collection <c> (see huddle/records.py and the records section below):
--   :r:<c>             hash id -> record blob: msgpack [version, created_at_ms, updated_at_ms,
--                      created_by, updated_by] followed by the msgpack map of its data
--   :rid:<c>           the last id given (ids are never reused)
--   :rx:<c>:<index>    zset of index members: a numeric index scores the padded id by value,
--                      a text index holds `<key>\0<padded id>` at score 0, a multi-valued one
--                      such a member per distinct text of the record; `id`, `created_at`
--                      and `updated_at` are numeric indexes every collection has
--   :ru:<c>:<key>      hash unique value -> id
--   :rk:<c>            hash id -> msgpack of the record's index members (every one, several
--                      for a multi-valued index) and unique values (so a write can remove
--                      exactly the entries it made before)
--   :rxs:<c>           set of `x:<index>` and `u:<key>` names in use (to drop a collection)
-- Event blob: msgpack array [epoch, seq, ts_ms, type, actor (map or nil), data (map)], and
-- [users, members_of] when the event has an audience (models.Audience).
-- Time: NOW comes from redis.call('TIME'), once per script: one clock for every node.

local BASE = KEYS[1]
local K_EPOCH, K_SEQ, K_LOG = BASE .. ':epoch', BASE .. ':seq', BASE .. ':log'
local K_PS, K_PEXP, K_LOCKS, K_LEXP = BASE .. ':ps', BASE .. ':pexp', BASE .. ':locks', BASE .. ':lexp'
local K_FENCE, CHANNEL = BASE .. ':fence', BASE .. ':ch'

local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- msgpack ------------------------------------------------------------------------------------

local MP_NIL = '\192'

-- Marks bytes that are already msgpack, to be embedded as they are by mp_map.
local function raw(bytes)
  return { raw = bytes }
end

-- A msgpack map from key, value, key, value ... (at most 15 pairs). Unlike cmsgpack.pack of a
-- table, a nil value is kept (as msgpack nil): event data has null fields.
local function mp_map(...)
  local n = select('#', ...)
  local out = { string.char(128 + n / 2) }
  for i = 1, n, 2 do
    local key, value = select(i, ...)
    out[#out + 1] = cmsgpack.pack(key)
    if value == nil then
      out[#out + 1] = MP_NIL
    elseif type(value) == 'table' then
      out[#out + 1] = value.raw
    else
      out[#out + 1] = cmsgpack.pack(value)
    end
  end
  return table.concat(out)
end

local function user_actor(user_id, name)
  return mp_map('type', 'user', 'id', user_id, 'name', name)
end

local function split_field(field)
  return string.match(field, '^([^/]*)/(.*)$')
end

-- events -------------------------------------------------------------------------------------

-- The wire blob of one event: the msgpack array [epoch, seq, ts_ms, type, actor, data], built by
-- concatenation because actor and data already are msgpack. The log and the channel carry it.
-- An event with an audience (msgpack [users, members_of]) has it as a seventh element.
local function event_blob(epoch, seq, event_type, actor, data, audience)
  local head = audience and '\151' or '\150'
  return head .. cmsgpack.pack(epoch) .. cmsgpack.pack(seq) .. cmsgpack.pack(NOW)
    .. cmsgpack.pack(event_type) .. (actor or MP_NIL) .. data .. (audience or '')
end

-- Append one event to the log and publish it; returns its blob. Creates the epoch with the
-- workspace's first event, and starts a new one (offsets from 1, empty log) if the counter was
-- lost, so a client's old cursor can never point into a different history.
local function emit(event_type, actor, data, audience)
  local epoch = redis.call('GET', K_EPOCH)
  if not epoch or redis.call('EXISTS', K_SEQ) == 0 then
    epoch = ARGV[1]
    redis.call('SET', K_EPOCH, epoch)
    redis.call('DEL', K_SEQ, K_LOG)
  end
  local seq = redis.call('INCR', K_SEQ)
  local blob = event_blob(epoch, seq, event_type, actor, data, audience)
  redis.call('XADD', K_LOG, 'MAXLEN', '~', ARGV[2], string.format('%d-0', seq), 'e', blob)
  redis.call('PUBLISH', CHANNEL, blob)
  return blob
end

-- sessions -----------------------------------------------------------------------------------

-- The stored session `sid` with its expires_at_ms, live or not; nil when there is none.
local function session_of(sid)
  local record = redis.call('HGET', K_PS, sid)
  if not record then
    return nil
  end
  local s = cmsgpack.unpack(record)
  s.expires_at_ms = tonumber(redis.call('ZSCORE', K_PEXP, sid)) or 0
  return s
end

local function live_session(sid)
  local s = session_of(sid)
  if s and s.expires_at_ms > NOW then
    return s
  end
  return nil
end

local function store_session(s)
  local expires_at_ms = s.expires_at_ms
  s.expires_at_ms = nil
  redis.call('HSET', K_PS, s.session_id, cmsgpack.pack(s))
  s.expires_at_ms = expires_at_ms
  redis.call('ZADD', K_PEXP, expires_at_ms, s.session_id)
end

-- One user's sessions (live or not yet swept): the per-user presence index.
local function user_sessions_key(user_id)
  return BASE .. ':pu:' .. user_id
end

local end_session

-- Before a user's new session: end their sessions whose time is up (with their events), so
-- `user.online` follows the `user.offline` those owe, never a second `user.online`.
local function settle_user(user_id)
  for _, sid in ipairs(redis.call('SMEMBERS', user_sessions_key(user_id))) do
    local s = session_of(sid)
    if s == nil then
      redis.call('SREM', user_sessions_key(user_id), sid)
    elseif s.expires_at_ms <= NOW then
      end_session(s, 'timeout')
    end
  end
end

local function start_session(info, ttl_ms)
  local s = {
    session_id = info.session_id, user_id = info.user_id, name = info.name, kind = info.kind,
    joined_at_ms = NOW, expires_at_ms = NOW + ttl_ms,
  }
  settle_user(s.user_id)
  local first = redis.call('SADD', user_sessions_key(s.user_id), s.session_id) == 1
    and redis.call('SCARD', user_sessions_key(s.user_id)) == 1
  store_session(s)
  local actor = user_actor(s.user_id, s.name)
  emit('presence.joined', actor, mp_map(
    'session_id', s.session_id, 'user_id', s.user_id, 'name', s.name, 'kind', s.kind))
  if first then
    emit('user.online', actor, mp_map('user_id', s.user_id, 'name', s.name))
  end
  return s
end

-- reason: 'leave' (actor: the user), 'timeout' or 'shutdown' (actor: Huddle). The user's last
-- session ending is `user.offline`, with the same reason and actor.
end_session = function(s, reason)
  redis.call('HDEL', K_PS, s.session_id)
  redis.call('ZREM', K_PEXP, s.session_id)
  if s.viewing then
    redis.call('SREM', BASE .. ':pv:' .. s.viewing, s.session_id)
  end
  redis.call('SREM', user_sessions_key(s.user_id), s.session_id)
  local actor = SYSTEM_ACTOR
  if reason == 'leave' then
    actor = user_actor(s.user_id, s.name)
  end
  emit('presence.left', actor, mp_map(
    'session_id', s.session_id, 'user_id', s.user_id, 'name', s.name, 'reason', reason))
  if redis.call('EXISTS', user_sessions_key(s.user_id)) == 0 then
    emit('user.offline', actor, mp_map('user_id', s.user_id, 'name', s.name, 'reason', reason))
  end
end

-- For writes: the live session, or nil; an expired one is removed here, with its event.
local function meet_session(sid)
  local s = session_of(sid)
  if s and s.expires_at_ms <= NOW then
    end_session(s, 'timeout')
    return nil
  end
  return s
end

-- leases -------------------------------------------------------------------------------------

-- The stored lease on `field` with its expires_at_ms, live or not; nil when there is none.
local function lease_of(field)
  local record = redis.call('HGET', K_LOCKS, field)
  if not record then
    return nil
  end
  local l = cmsgpack.unpack(record)
  l.expires_at_ms = tonumber(redis.call('ZSCORE', K_LEXP, field)) or 0
  return l
end

local function live_lease(field)
  local l = lease_of(field)
  if l and l.expires_at_ms > NOW then
    return l
  end
  return nil
end

local function store_lease(l)
  local field = l.entity_type .. '/' .. l.entity_id
  local expires_at_ms = l.expires_at_ms
  l.expires_at_ms = nil
  redis.call('HSET', K_LOCKS, field, cmsgpack.pack(l))
  l.expires_at_ms = expires_at_ms
  redis.call('ZADD', K_LEXP, expires_at_ms, field)
  redis.call('SADD', BASE .. ':ul:' .. l.user_id, field)
end

-- The audience of a lease's events (`l.aud`, the table {users, members_of} given when it was
-- acquired) as emit takes it, or nil for the whole workspace.
local function lease_audience(l)
  return l.aud and cmsgpack.pack(l.aud) or nil
end

-- The data of lock.acquired and lock.refreshed.
local function lease_data(l)
  return mp_map(
    'entity_type', l.entity_type, 'entity_id', l.entity_id, 'user_id', l.user_id,
    'name', l.name, 'session_id', l.session_id, 'fencing_token', l.token,
    'acquired_at_ms', l.acquired_at_ms, 'expires_at_ms', l.expires_at_ms)
end

-- Remove a lease and emit `event_type` (lock.released, lock.expired, lock.force_released);
-- `released_by` (an actor id) only for lock.force_released.
local function end_lease(l, event_type, actor, released_by)
  local field = l.entity_type .. '/' .. l.entity_id
  redis.call('HDEL', K_LOCKS, field)
  redis.call('ZREM', K_LEXP, field)
  redis.call('SREM', BASE .. ':ul:' .. l.user_id, field)
  local data
  if released_by then
    data = mp_map(
      'entity_type', l.entity_type, 'entity_id', l.entity_id, 'user_id', l.user_id,
      'name', l.name, 'fencing_token', l.token, 'released_by', released_by)
  else
    data = mp_map(
      'entity_type', l.entity_type, 'entity_id', l.entity_id, 'user_id', l.user_id,
      'name', l.name, 'fencing_token', l.token)
  end
  emit(event_type, actor, data, lease_audience(l))
end

-- For writes: the live lease, or nil; an expired one is removed here, with its event.
local function meet_lease(field)
  local l = lease_of(field)
  if l and l.expires_at_ms <= NOW then
    end_lease(l, 'lock.expired', SYSTEM_ACTOR)
    return nil
  end
  return l
end

-- records ------------------------------------------------------------------------------------

local SYSTEM_INDEXES = { 'id', 'created_at', 'updated_at' }

local function rkey(kind, c)
  return BASE .. ':' .. kind .. ':' .. c
end

local function rindex(c, name)
  return BASE .. ':rx:' .. c .. ':' .. name
end

local function runique(c, name)
  return BASE .. ':ru:' .. c .. ':' .. name
end

local function pid(id)
  return string.format('%016d', id)
end

local function map_header(n)
  if n < 16 then
    return string.char(128 + n)
  elseif n < 65536 then
    return '\222' .. string.char(math.floor(n / 256), n % 256)
  end
  return '\223' .. string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

-- The pair count and the pairs (without the header) of a msgpack map.
local function map_body(bytes)
  local b = string.byte(bytes, 1)
  if b >= 128 and b < 144 then
    return b - 128, string.sub(bytes, 2)
  elseif b == 222 then
    return string.byte(bytes, 2) * 256 + string.byte(bytes, 3), string.sub(bytes, 4)
  elseif b == 223 then
    local b1, b2, b3, b4 = string.byte(bytes, 2, 5)
    return ((b1 * 256 + b2) * 256 + b3) * 256 + b4, string.sub(bytes, 6)
  end
  error('expected a msgpack map')
end

-- The stored record `id` of collection `c` ({id, version, created, updated, created_by,
-- updated_by, data = msgpack map, blob}), or nil.
local function record_of(c, id)
  local blob = redis.call('HGET', rkey('r', c), id)
  if not blob then
    return nil
  end
  local offset, meta = cmsgpack.unpack_one(blob)
  return {
    id = id, version = meta[1], created = meta[2], updated = meta[3], created_by = meta[4],
    updated_by = meta[5], data = string.sub(blob, offset + 1), blob = blob,
  }
end

-- The stored blob of record r (also what a batch answers for a record it has yet to write).
local function record_blob(r)
  return cmsgpack.pack({ r.version, r.created, r.updated, r.created_by, r.updated_by }) .. r.data
end

local function store_record(c, r)
  r.blob = record_blob(r)
  redis.call('HSET', rkey('r', c), r.id, r.blob)
end

-- Emit a record event: `edata` (a msgpack map) with id, version and both times first;
-- `audience` the table {users, members_of} of the write spec's `aud`, or nil.
local function record_event(event_type, actor, r, edata, audience)
  local n, body = map_body(edata)
  emit(event_type, actor, map_header(n + 4)
    .. cmsgpack.pack('id') .. cmsgpack.pack(r.id)
    .. cmsgpack.pack('version') .. cmsgpack.pack(r.version)
    .. cmsgpack.pack('created_at_ms') .. cmsgpack.pack(r.created)
    .. cmsgpack.pack('updated_at_ms') .. cmsgpack.pack(r.updated) .. body,
    audience and cmsgpack.pack(audience) or nil)
end

-- The refusal of a guarded write (g = {entity field, user id, token or nil}), or nil to go on.
local function guard_refusal(g)
  if not g then
    return nil
  end
  local l = meet_lease(g[1])
  local token = g[3]
  if l and l.user_id ~= g[2] then
    if token and token ~= l.token then
      return { 'stale', cmsgpack.pack(l), token }
    end
    return { 'locked', cmsgpack.pack(l) }
  end
  if token and (not l or token ~= l.token) then
    return { 'stale', l and cmsgpack.pack(l) or false, token }
  end
  return nil
end

-- The refusal of a write whose unique keys (u = {{name, value}...}) another record holds, or
-- whose references (f = {{collection, id, version or nil}...}) are missing or, with a version,
-- at another one; nil to go on.
local function claim_refusal(c, id, spec)
  for i, u in ipairs(spec.u or {}) do
    local holder = redis.call('HGET', runique(c, u[1]), u[2])
    if holder and tonumber(holder) ~= id then
      return { 'taken', i, tonumber(holder), redis.call('HGET', rkey('r', c), holder) }
    end
  end
  for i, f in ipairs(spec.f or {}) do
    if f[3] then
      local target = record_of(f[1], f[2])
      if not target or target.version ~= f[3] then
        return { 'unresolved', i }
      end
    elseif redis.call('HEXISTS', rkey('r', f[1]), f[2]) == 0 then
      return { 'unresolved', i }
    end
  end
  return nil
end

-- Remove the index members and unique values record `id` was given by its last write.
local function unindex(c, id)
  local blob = redis.call('HGET', rkey('rk', c), id)
  if not blob then
    return
  end
  local xs, us = cmsgpack.unpack(blob)
  for _, x in ipairs(xs) do
    redis.call('ZREM', rindex(c, x[1]), x[2])
  end
  for _, u in ipairs(us or {}) do
    local k = runique(c, u[1])
    if tonumber(redis.call('HGET', k, u[2])) == id then
      redis.call('HDEL', k, u[2])
    end
  end
  redis.call('HDEL', rkey('rk', c), id)
end

-- Enter record r in its collection's indexes: the system ones, then spec.x ({{name, kind,
-- value}}: kind 'n' with a score, 's' with a text key, 'm' with a list of distinct text keys,
-- possibly empty) and spec.u. Every member made is listed in the record's :rk entry.
local function index(c, r, spec)
  local p = pid(r.id)
  redis.call('ZADD', rindex(c, 'id'), r.id, p)
  redis.call('ZADD', rindex(c, 'created_at'), r.created, p)
  redis.call('ZADD', rindex(c, 'updated_at'), r.updated, p)
  local xs, us, names = {}, {}, {}
  for _, x in ipairs(spec.x or {}) do
    if x[2] == 'n' then
      redis.call('ZADD', rindex(c, x[1]), x[3], p)
      xs[#xs + 1] = { x[1], p }
    else
      local keys = x[2] == 'm' and x[3] or { x[3] }
      for _, key in ipairs(keys) do
        local member = key .. '\0' .. p
        redis.call('ZADD', rindex(c, x[1]), 0, member)
        xs[#xs + 1] = { x[1], member }
      end
    end
    if x[2] ~= 'm' or #x[3] > 0 then
      names[#names + 1] = 'x:' .. x[1]
    end
  end
  for _, u in ipairs(spec.u or {}) do
    redis.call('HSET', runique(c, u[1]), u[2], r.id)
    us[#us + 1] = u
    names[#names + 1] = 'u:' .. u[1]
  end
  redis.call('HSET', rkey('rk', c), r.id, cmsgpack.pack(xs, us))
  if #names > 0 then
    redis.call('SADD', rkey('rxs', c), unpack(names))
  end
end

local function drop_index(c, name)
  redis.call('DEL', rindex(c, name), runique(c, name))
  redis.call('SREM', rkey('rxs', c), 'x:' .. name, 'u:' .. name)
end

-- Delete collection c whole: records, indexes, unique keys and its id counter.
local function drop_collection(c)
  for _, name in ipairs(redis.call('SMEMBERS', rkey('rxs', c))) do
    local kind, rest = string.sub(name, 1, 1), string.sub(name, 3)
    redis.call('UNLINK', kind == 'x' and rindex(c, rest) or runique(c, rest))
  end
  for _, name in ipairs(SYSTEM_INDEXES) do
    redis.call('UNLINK', rindex(c, name))
  end
  redis.call('UNLINK', rkey('r', c), rkey('rk', c), rkey('rid', c), rkey('rxs', c))
end

-- Remove record `id` of collection c: its index entries, unique values and blob.
local function remove_record(c, id)
  unindex(c, id)
  local p = pid(id)
  for _, name in ipairs(SYSTEM_INDEXES) do
    redis.call('ZREM', rindex(c, name), p)
  end
  redis.call('HDEL', rkey('r', c), id)
end

-- ---------------------------------------------------------------------------------------------
