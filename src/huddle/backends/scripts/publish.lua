-- publish.lua: append one custom event and publish it; with an idempotency key, a repeat
-- within the window returns the first event's blob and appends nothing.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] event type   ARGV[4] actor (msgpack map or nil)   ARGV[5] data (msgpack map)
-- ARGV[6] idempotency window ms   ARGV[7] audience (msgpack [users, members_of], '': none)
-- ARGV[8] idempotency key (absent: none)
-- returns the event blob. Keys: :epoch :seq :log :idem:<sha1(key)>, channel :ch.

local idem_key
if #ARGV >= 8 then
  idem_key = BASE .. ':idem:' .. redis.sha1hex(ARGV[8])
  local first = redis.call('GET', idem_key)
  if first then
    return first
  end
end
local blob = emit(ARGV[3], ARGV[4], ARGV[5], ARGV[7] ~= '' and ARGV[7] or nil)
if idem_key then
  redis.call('SET', idem_key, blob, 'PX', ARGV[6])
end
return blob
