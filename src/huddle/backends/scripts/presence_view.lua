-- presence_view.lua: set what a session views (or nothing) and refresh its expiry and name.
-- A session that is not live joins first (presence.joined); a change of entity emits
-- presence.viewing with the previous one; viewing the same entity again emits nothing.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] msgpack {session_id, user_id, name, kind}   ARGV[4] ttl ms
-- ARGV[5] entity type ('' = view nothing)   ARGV[6] entity id
-- ARGV[7] audience of the entity (msgpack [users, members_of], '': none), kept as `s.va`
-- A change between entities of different audiences is two events: leaving the previous one
-- (for its audience), then arriving at the new one with no previous (for its audience).
-- returns {1 if new else 0, msgpack session with expires_at_ms}. Keys: :ps :pexp :pv:*, log.

local info = cmsgpack.unpack(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local target
if ARGV[5] ~= '' then
  target = ARGV[5] .. '/' .. ARGV[6]
end
local aud = nil
if target and ARGV[7] ~= '' then
  aud = cmsgpack.unpack(ARGV[7])
end
local new = 0
local s = meet_session(info.session_id)
if not s then
  s = start_session(info, ttl_ms)
  new = 1
end
local previous, before = s.viewing, s.va
s.name = info.name
s.expires_at_ms = NOW + ttl_ms
s.va = aud
if previous == target then
  store_session(s)
  return { new, cmsgpack.pack(s) }
end

if previous then
  redis.call('SREM', BASE .. ':pv:' .. previous, s.session_id)
end
s.viewing = target
s.viewing_since_ms = nil
if target then
  s.viewing_since_ms = NOW
  redis.call('SADD', BASE .. ':pv:' .. target, s.session_id)
end
store_session(s)

local function audience_bytes(a)
  return a and cmsgpack.pack(a) or nil
end
local previous_map
if previous then
  local previous_type, previous_id = split_field(previous)
  previous_map = raw(mp_map('resource_type', previous_type, 'resource_id', previous_id))
end
local resource_type, resource_id
if target then
  resource_type, resource_id = ARGV[5], ARGV[6]
end
local actor = user_actor(s.user_id, s.name)
local function viewing(rtype, rid, prev, audience)
  emit('presence.viewing', actor, mp_map(
    'session_id', s.session_id, 'user_id', s.user_id, 'name', s.name,
    'resource_type', rtype, 'resource_id', rid, 'previous', prev), audience)
end
if previous and audience_bytes(before) ~= audience_bytes(aud) then
  viewing(nil, nil, previous_map, audience_bytes(before))
  if target then
    viewing(resource_type, resource_id, nil, audience_bytes(aud))
  end
else
  viewing(resource_type, resource_id, previous_map, audience_bytes(aud))
end
return { new, cmsgpack.pack(s) }
