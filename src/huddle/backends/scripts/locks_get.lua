-- locks_get.lua: the live lease of each entity. Read-only: what expired is skipped.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3..] entity fields `type/id`
-- returns one msgpack lease with expires_at_ms, or false, per entity, in order.
-- Keys: :locks :lexp.

local out = {}
for i = 3, #ARGV do
  local l = live_lease(ARGV[i])
  out[#out + 1] = l and cmsgpack.pack(l) or false
end
return out
