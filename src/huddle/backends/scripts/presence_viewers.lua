-- presence_viewers.lua: for each entity, its live viewing sessions and its live lease.
-- Read-only: what expired is skipped, not removed.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3..] entity fields `type/id`
-- returns one {{msgpack session, ...}, msgpack lease or false} per entity, in order.
-- Keys: :pv:* :ps :pexp :locks :lexp.

local out = {}
for i = 3, #ARGV do
  local field = ARGV[i]
  local sessions = {}
  for _, sid in ipairs(redis.call('SMEMBERS', BASE .. ':pv:' .. field)) do
    local s = live_session(sid)
    if s then
      sessions[#sessions + 1] = cmsgpack.pack(s)
    end
  end
  local l = live_lease(field)
  out[#out + 1] = { sessions, l and cmsgpack.pack(l) or false }
end
return out
