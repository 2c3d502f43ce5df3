-- presence_join.lua: create a session (presence.joined) or refresh a live one's expiry and
-- name (no event). An expired session met here leaves first (presence.left, timeout).
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] msgpack {session_id, user_id, name, kind}   ARGV[4] ttl ms
-- returns {1 if new else 0, msgpack session with expires_at_ms}. Keys: :ps :pexp :pv:*, log.

local info = cmsgpack.unpack(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local s = meet_session(info.session_id)
if not s then
  s = start_session(info, ttl_ms)
  return { 1, cmsgpack.pack(s) }
end
s.name = info.name
s.expires_at_ms = NOW + ttl_ms
store_session(s)
return { 0, cmsgpack.pack(s) }
