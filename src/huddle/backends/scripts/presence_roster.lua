-- presence_roster.lua: every live session of the workspace. Read-only.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- returns {msgpack session with expires_at_ms, ...}, unordered. Keys: :pexp :ps.

local live = redis.call('ZRANGEBYSCORE', K_PEXP, string.format('(%d', NOW), '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local record = redis.call('HGET', K_PS, live[i])
  if record then
    local s = cmsgpack.unpack(record)
    s.expires_at_ms = tonumber(live[i + 1])
    out[#out + 1] = cmsgpack.pack(s)
  end
end
return out
