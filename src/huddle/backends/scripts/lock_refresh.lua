-- lock_refresh.lua: extend the caller's live lease to now + ttl (lock.refreshed, same token).
-- An expired lease met here expires first (lock.expired).
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] entity type   ARGV[4] entity id   ARGV[5] user id   ARGV[6] ttl ms
-- ARGV[7] session id, or '' (given: the lease's session becomes it)
-- returns {'extended' | 'held', msgpack lease with expires_at_ms} or {'none'}.
-- Keys: :locks :lexp :ul:<user>, log.

local l = meet_lease(ARGV[3] .. '/' .. ARGV[4])
if not l then
  return { 'none' }
end
if l.user_id ~= ARGV[5] then
  return { 'held', cmsgpack.pack(l) }
end
l.expires_at_ms = NOW + tonumber(ARGV[6])
if ARGV[7] ~= '' then
  l.session_id = ARGV[7]
end
store_lease(l)
emit('lock.refreshed', user_actor(l.user_id, l.name), lease_data(l), lease_audience(l))
return { 'extended', cmsgpack.pack(l) }
