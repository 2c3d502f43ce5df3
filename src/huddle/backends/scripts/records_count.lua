-- records_count.lua: per collection, its record count and how many were created within the
-- last `recent` ms (Redis TIME). Read-only.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3] recent ms   ARGV[4..] collections
-- returns {total, recent, total, recent, ...}.

local since = NOW - tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  out[#out + 1] = redis.call('ZCARD', rindex(ARGV[i], 'id'))
  out[#out + 1] = redis.call('ZCOUNT', rindex(ARGV[i], 'created_at'), '(' .. since, '+inf')
end
return out
