-- locks_held_by.lua: a user's live leases, read from that user's index only. Read-only.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused   ARGV[3] user id
-- returns {msgpack lease with expires_at_ms, ...}, unordered. Keys: :ul:<user> :locks :lexp.

local out = {}
for _, field in ipairs(redis.call('SMEMBERS', BASE .. ':ul:' .. ARGV[3])) do
  local l = live_lease(field)
  if l and l.user_id == ARGV[3] then
    out[#out + 1] = cmsgpack.pack(l)
  end
end
return out
