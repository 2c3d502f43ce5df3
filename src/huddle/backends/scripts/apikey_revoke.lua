-- apikey_revoke.lua: delete an org's key record from both hashes.
-- KEYS[1] {prefix}:apikeys   KEYS[2] {prefix}:org:<org>:apikeys   ARGV[1] key id
-- returns 1 if the org had the key, else 0.

local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], cmsgpack.unpack(record).key_hash)
return 1
