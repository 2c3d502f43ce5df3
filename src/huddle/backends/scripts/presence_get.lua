-- presence_get.lua: one live session. Read-only.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused   ARGV[3] session id
-- returns the msgpack session with expires_at_ms, or false. Keys: :ps :pexp.

local s = live_session(ARGV[3])
return s and cmsgpack.pack(s) or false
