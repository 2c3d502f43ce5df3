-- presence_touch.lua: extend the expiry of the live sessions among the ids (a node's batch
-- heartbeat). No events: an expired session is left for sweep, never revived.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3] ttl ms   ARGV[4..] session ids
-- returns the distinct ids that were not live, in the order given. Keys: :pexp.

local expires_at_ms = NOW + tonumber(ARGV[3])
local seen, gone = {}, {}
for i = 4, #ARGV do
  local sid = ARGV[i]
  if not seen[sid] then
    seen[sid] = true
    local score = tonumber(redis.call('ZSCORE', K_PEXP, sid))
    if score and score > NOW then
      redis.call('ZADD', K_PEXP, expires_at_ms, sid)
    else
      gone[#gone + 1] = sid
    end
  end
end
return gone
