-- lock_acquire.lua: grant a free entity (lock.acquired, a new fencing token), extend the
-- caller's own lease (lock.refreshed, same token; name and session become the caller's), or
-- answer another user's live lease. An expired lease met here expires first (lock.expired).
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] entity type   ARGV[4] entity id   ARGV[5] msgpack {user_id, name, session_id}
-- ARGV[6] ttl ms   ARGV[7] audience of the lease's events (msgpack [users, members_of], '':
--   none), kept with the lease
-- returns {'granted' | 'extended' | 'held', msgpack lease with expires_at_ms}.
-- Keys: :locks :lexp :ul:<user> :fence, log.

local field = ARGV[3] .. '/' .. ARGV[4]
local holder = cmsgpack.unpack(ARGV[5])
local ttl_ms = tonumber(ARGV[6])
local aud = nil
if ARGV[7] ~= '' then
  aud = cmsgpack.unpack(ARGV[7])
end
local l = meet_lease(field)
if l and l.user_id ~= holder.user_id then
  return { 'held', cmsgpack.pack(l) }
end
if l then
  l.name = holder.name
  l.session_id = holder.session_id
  l.expires_at_ms = NOW + ttl_ms
  l.aud = aud
  store_lease(l)
  emit('lock.refreshed', user_actor(l.user_id, l.name), lease_data(l), lease_audience(l))
  return { 'extended', cmsgpack.pack(l) }
end
-- A counter that starts (again: the store lost it) starts at the time in microseconds, above
-- every token granted before (fewer than one grant per microsecond): an old token never names
-- a new grant.
if redis.call('EXISTS', K_FENCE) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', K_FENCE, t[1] .. string.format('%06d', tonumber(t[2])))
end
l = {
  entity_type = ARGV[3], entity_id = ARGV[4], user_id = holder.user_id, name = holder.name,
  session_id = holder.session_id, acquired_at_ms = NOW, expires_at_ms = NOW + ttl_ms,
  token = redis.call('INCR', K_FENCE), aud = aud,
}
store_lease(l)
emit('lock.acquired', user_actor(l.user_id, l.name), lease_data(l), lease_audience(l))
return { 'granted', cmsgpack.pack(l) }
