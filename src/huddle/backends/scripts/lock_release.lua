-- lock_release.lua: end the caller's live lease (lock.released). An expired lease met here
-- expires instead (lock.expired) and answers none.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] entity type   ARGV[4] entity id   ARGV[5] user id
-- ARGV[6] session id, or '' (given: a lease whose session differs is left alone, 'held')
-- returns {'released' | 'held', msgpack lease with expires_at_ms} or {'none'}.
-- Keys: :locks :lexp :ul:<user>, log.

local l = meet_lease(ARGV[3] .. '/' .. ARGV[4])
if not l then
  return { 'none' }
end
if l.user_id ~= ARGV[5] or (ARGV[6] ~= '' and l.session_id ~= ARGV[6]) then
  return { 'held', cmsgpack.pack(l) }
end
end_lease(l, 'lock.released', user_actor(l.user_id, l.name))
return { 'released', cmsgpack.pack(l) }
