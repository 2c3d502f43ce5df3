-- apikey_update.lua: rewrite an org's key record in place if it still holds the same key (a
-- compare-and-set on its hash): the key keeps working, with the record's new fields. No event.
-- KEYS[1] {prefix}:apikeys   KEYS[2] {prefix}:org:<org>:apikeys
-- ARGV[1] key id   ARGV[2] key hash   ARGV[3] msgpack record (a map with key_hash)
-- returns 1 if rewritten, 0 if the org has no such key or another key under that id now.

local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current or cmsgpack.unpack(current).key_hash ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
