-- apikey_create.lua: store an API key record under its hash and in its org's index. A record
-- of the same org and key id is replaced: its old hash stops working and, when it differs from
-- the new one, `credential.revoked` (key_id, key_hash) is emitted on the org's credential
-- stream, the workspace of KEYS[1].
-- KEYS[1] the org's credential stream base (see _lib.lua)   KEYS[2] {prefix}:apikeys (hash
-- key_hash -> record)   KEYS[3] {prefix}:org:<org>:apikeys (hash key_id -> record): these two
-- carry no hash tag (the contract's API keys are not for Redis Cluster).
-- ARGV[1] candidate epoch   ARGV[2] log length   ARGV[3] key id   ARGV[4] key hash
-- ARGV[5] msgpack record (a map with key_hash)
-- returns 1.

local previous = redis.call('HGET', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
if previous then
  local old_hash = cmsgpack.unpack(previous).key_hash
  if old_hash ~= ARGV[4] then
    redis.call('HDEL', KEYS[2], old_hash)
    emit('credential.revoked', SYSTEM_ACTOR, mp_map('key_id', ARGV[3], 'key_hash', old_hash))
  end
end
return 1
