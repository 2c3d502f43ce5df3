-- apikey_revoke.lua: delete an org's key record from both hashes, and emit `credential.revoked`
-- (key_id, key_hash) on the org's credential stream, the workspace of KEYS[1].
-- KEYS[1] the org's credential stream base (see _lib.lua)   KEYS[2] {prefix}:apikeys
-- KEYS[3] {prefix}:org:<org>:apikeys (both without hash tag, as in apikey_create.lua)
-- ARGV[1] candidate epoch   ARGV[2] log length   ARGV[3] key id
-- returns 1 if the org had the key, else 0 (and no event).

local record = redis.call('HGET', KEYS[3], ARGV[3])
if not record then
  return 0
end
local key_hash = cmsgpack.unpack(record).key_hash
redis.call('HDEL', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[2], key_hash)
emit('credential.revoked', SYSTEM_ACTOR, mp_map('key_id', ARGV[3], 'key_hash', key_hash))
return 1
