-- read.lua: one consistent view of a workspace's log. Read-only: never creates an epoch.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3] after (offset)   ARGV[4] limit
-- returns {epoch or '', head, oldest retained offset (head + 1 if none), {blob, ...}} with the
-- blobs of the retained events with seq > after, oldest first, at most limit.

local epoch = redis.call('GET', K_EPOCH)
local head = tonumber(redis.call('GET', K_SEQ))
if not epoch or not head then
  -- Untouched, or the counter was lost: the next event starts a new epoch at offset 1.
  return { '', 0, 1, {} }
end
local oldest = head + 1
local first = redis.call('XRANGE', K_LOG, '-', '+', 'COUNT', 1)[1]
if first then
  oldest = tonumber(string.match(first[1], '^(%d+)-'))
end
local blobs = {}
local limit = tonumber(ARGV[4])
if limit > 0 then
  local start = string.format('%d-0', math.max(tonumber(ARGV[3]), 0) + 1)
  for i, entry in ipairs(redis.call('XRANGE', K_LOG, start, '+', 'COUNT', limit)) do
    blobs[i] = entry[2][2]
  end
end
return { epoch, head, oldest, blobs }
