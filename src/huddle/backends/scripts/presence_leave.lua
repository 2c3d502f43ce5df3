-- presence_leave.lua: end a live session (presence.left with the reason: leave, or shutdown
-- when its node ended it). A session that is not live answers 0; an expired one met here leaves
-- with reason timeout instead.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] session id   ARGV[4] reason (leave | shutdown)
-- returns 1 if a live session ended, else 0. Keys: :ps :pexp :pv:*, log.

local s = meet_session(ARGV[3])
if not s then
  return 0
end
end_session(s, ARGV[4])
return 1
