-- active_settle.lua: drop an idle workspace from the active index, unless it was touched since
-- the sweep that found it idle read its score (a join racing the sweep is never lost).
-- KEYS[1] {prefix}:active   ARGV[1] workspace tag `org/ws`   ARGV[2] the score read before
-- the sweep
-- returns 1 if removed, else 0.

local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if score and score == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
