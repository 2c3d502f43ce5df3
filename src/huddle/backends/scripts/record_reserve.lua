-- record_reserve.lua: hand out `count` new ids of a collection from the counter record_create
-- uses, skipping ids that hold a record (a counter behind its records, as record_create.lua
-- does), so that no id is ever given twice. Makes no record and emits nothing.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] collection   ARGV[4] count
-- returns the ids, increasing.
-- Keys: :rid:<c>.

local c, count = ARGV[3], tonumber(ARGV[4])
local ids = {}
for n = 1, count do
  local id = redis.call('INCR', rkey('rid', c))
  while redis.call('HEXISTS', rkey('r', c), id) == 1 do
    id = redis.call('INCR', rkey('rid', c))
  end
  ids[n] = id
end
return ids
