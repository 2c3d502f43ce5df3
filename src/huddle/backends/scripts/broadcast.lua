-- broadcast.lua: publish one ephemeral event on the workspace channel, outside the log: it
-- takes no offset (seq 0), is never replayed, and creates no key.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch (unused)
-- ARGV[2] log length (unused)   ARGV[3] event type   ARGV[4] actor (msgpack map or nil)
-- ARGV[5] data (msgpack map)   ARGV[6] audience (msgpack [users, members_of], '': none)
-- returns the event blob (epoch "" when the workspace has no log yet). Channel :ch.

local epoch = redis.call('GET', K_EPOCH) or ''
local blob = event_blob(epoch, 0, ARGV[3], ARGV[4], ARGV[5], ARGV[6] ~= '' and ARGV[6] or nil)
redis.call('PUBLISH', CHANNEL, blob)
return blob
