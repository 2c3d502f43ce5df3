-- sweep.lua: remove up to `limit` expired sessions and up to `limit` expired leases, each
-- with its one event (presence.left reason timeout, lock.expired), earliest expiry first.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] limit
-- returns {sessions removed, leases removed, 1 if no session and no lease is left else 0}.
-- Keys: :pexp :ps :pv:* :lexp :locks :ul:*, log. Creates nothing when nothing expired.

local limit = tonumber(ARGV[3])
local sessions, leases = 0, 0
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', K_PEXP, '-inf', NOW, 'LIMIT', 0, limit)) do
  local s = session_of(sid)
  if s then
    end_session(s, 'timeout')
    sessions = sessions + 1
  else
    redis.call('ZREM', K_PEXP, sid) -- an expiry without its session: nothing to announce
  end
end
for _, field in ipairs(redis.call('ZRANGEBYSCORE', K_LEXP, '-inf', NOW, 'LIMIT', 0, limit)) do
  local l = lease_of(field)
  if l then
    end_lease(l, 'lock.expired', SYSTEM_ACTOR)
    leases = leases + 1
  else
    redis.call('ZREM', K_LEXP, field)
  end
end
local idle = redis.call('EXISTS', K_PS) == 0 and redis.call('EXISTS', K_LOCKS) == 0
return { sessions, leases, idle and 1 or 0 }
