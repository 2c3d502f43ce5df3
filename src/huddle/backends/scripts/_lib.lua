-- _lib.lua: the prelude of every workspace script. It is never run alone: the loader prepends
-- it (after one generated line, `local SYSTEM_ACTOR = <msgpack of models.SYSTEM>`) to each
-- workspace script, so all of them meet expiry, build payloads and emit events the same way.
--
-- Conventions of every workspace script:
--   KEYS[1]  the workspace's key base `{prefix}:{org/ws}`. Nothing is stored under it; every
--            key touched is KEYS[1] .. suffix, so all carry the `{org/ws}` hash tag (one slot).
--   ARGV[1]  a random epoch, used only when the workspace has none (its first event, or its
--            counter was lost)      ARGV[2]  event_log_length (XADD MAXLEN ~)
--   ARGV[3..] the script's own arguments (see each header).
-- Keys under the base:
--   :epoch :seq        strings: the epoch tag and the last offset given
--   :log               stream, entry id `<seq>-0`, field `e` = the event blob
--   :idem:<sha1(key)>  string: the blob first published with an idempotency key (PX window)
--   :ps                hash session_id -> msgpack session (without its expiry)
--   :pexp              zset session_id -> expires_at_ms (the one place a session's expiry lives)
--   :pv:<type/id>      set of the session ids viewing that entity
--   :locks             hash `type/id` -> msgpack lease (without its expiry)
--   :lexp              zset `type/id` -> expires_at_ms (the one place a lease's expiry lives)
--   :ul:<user_id>      set of the `type/id` a user holds
--   :fence             the fencing counter (only grows)
--   :ch                pub/sub channel of the workspace's events
-- Event blob: msgpack array [epoch, seq, ts_ms, type, actor (map or nil), data (map)].
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
local function event_blob(epoch, seq, event_type, actor, data)
  return '\150' .. cmsgpack.pack(epoch) .. cmsgpack.pack(seq) .. cmsgpack.pack(NOW)
    .. cmsgpack.pack(event_type) .. (actor or MP_NIL) .. data
end

-- Append one event to the log and publish it; returns its blob. Creates the epoch with the
-- workspace's first event, and starts a new one (offsets from 1, empty log) if the counter was
-- lost, so a client's old cursor can never point into a different history.
local function emit(event_type, actor, data)
  local epoch = redis.call('GET', K_EPOCH)
  if not epoch or redis.call('EXISTS', K_SEQ) == 0 then
    epoch = ARGV[1]
    redis.call('SET', K_EPOCH, epoch)
    redis.call('DEL', K_SEQ, K_LOG)
  end
  local seq = redis.call('INCR', K_SEQ)
  local blob = event_blob(epoch, seq, event_type, actor, data)
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

local function start_session(info, ttl_ms)
  local s = {
    session_id = info.session_id, user_id = info.user_id, name = info.name, kind = info.kind,
    joined_at_ms = NOW, expires_at_ms = NOW + ttl_ms,
  }
  store_session(s)
  emit('presence.joined', user_actor(s.user_id, s.name), mp_map(
    'session_id', s.session_id, 'user_id', s.user_id, 'name', s.name, 'kind', s.kind))
  return s
end

-- reason: 'leave' (actor: the user) or 'timeout' (actor: Huddle).
local function end_session(s, reason)
  redis.call('HDEL', K_PS, s.session_id)
  redis.call('ZREM', K_PEXP, s.session_id)
  if s.viewing then
    redis.call('SREM', BASE .. ':pv:' .. s.viewing, s.session_id)
  end
  local actor = SYSTEM_ACTOR
  if reason == 'leave' then
    actor = user_actor(s.user_id, s.name)
  end
  emit('presence.left', actor, mp_map(
    'session_id', s.session_id, 'user_id', s.user_id, 'name', s.name, 'reason', reason))
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
  emit(event_type, actor, data)
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

-- ---------------------------------------------------------------------------------------------
