-- records_find.lua: the record holding a unique value. Read-only.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3] collection   ARGV[4] unique key name   ARGV[5] value
-- returns {id, blob} or false.

local c = ARGV[3]
local id = redis.call('HGET', runique(c, ARGV[4]), ARGV[5])
if not id then
  return false
end
local blob = redis.call('HGET', rkey('r', c), id)
if not blob then
  return false
end
return { tonumber(id), blob }
