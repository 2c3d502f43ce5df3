-- lock_force_release.lua: end whoever's live lease (lock.force_released, actor `by`, with
-- released_by). An expired lease met here expires instead (lock.expired) and answers none.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] entity type   ARGV[4] entity id   ARGV[5] msgpack actor `by`   ARGV[6] by's id
-- returns {'released', msgpack lease with expires_at_ms} or {'none'}.
-- Keys: :locks :lexp :ul:<user>, log.

local l = meet_lease(ARGV[3] .. '/' .. ARGV[4])
if not l then
  return { 'none' }
end
end_lease(l, 'lock.force_released', ARGV[5], ARGV[6])
return { 'released', cmsgpack.pack(l) }
