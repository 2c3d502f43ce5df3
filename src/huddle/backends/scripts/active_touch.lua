-- active_touch.lua: mark a workspace active (it may hold sessions or locks). Not a workspace
-- script (no _lib.lua): it touches the one index key of the prefix. The score is the touch
-- time in ms, made strictly larger than the previous score, so that active_settle.lua can tell
-- that a touch happened since a sweep read the score.
-- KEYS[1] {prefix}:active (zset workspace tag -> last touch)   ARGV[1] workspace tag `org/ws`
-- returns the new score.

local t = redis.call('TIME')
local score = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local previous = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if previous and previous >= score then
  score = previous + 1
end
redis.call('ZADD', KEYS[1], score, ARGV[1])
return score
