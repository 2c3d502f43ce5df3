-- apikey_create.lua: store an API key record under its hash and in its org's index; a record
-- of the same org and key id is replaced (its old hash stops working).
-- KEYS[1] {prefix}:apikeys (hash key_hash -> record)
-- KEYS[2] {prefix}:org:<org>:apikeys (hash key_id -> record)
-- ARGV[1] key id   ARGV[2] key hash   ARGV[3] msgpack record (a map with key_hash)
-- returns 1.

local previous = redis.call('HGET', KEYS[2], ARGV[1])
if previous then
  redis.call('HDEL', KEYS[1], cmsgpack.unpack(previous).key_hash)
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
