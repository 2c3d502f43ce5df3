-- record_delete.lua: remove a record with its index entries and unique values, apply the
-- cascade and emit the event (carrying the record as it was); or refuse (nothing changes).
-- Checks, in order: the guard, existence, the version, the collections that must be empty.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] collection   ARGV[4] id
-- ARGV[5] msgpack spec {v = expected version or nil, g = guard or nil, ev = event type or nil,
--   empty = {collection...}, dropc = {collection...}, drop = {{collection, index}...}}
-- ARGV[6] msgpack actor   ARGV[7] msgpack map of the event data (or '')
-- returns {'ok', blob} | {'locked', lease} | {'stale', lease or false, token} | {'missing'}
--   | {'version', blob} | {'not_empty', i, count}.
-- Keys: the collection's record keys (and the dropped ones'), :locks :lexp :ul:<user>, log.

local c, id = ARGV[3], tonumber(ARGV[4])
local spec = cmsgpack.unpack(ARGV[5])
local refusal = guard_refusal(spec.g)
if refusal then
  return refusal
end
local r = record_of(c, id)
if not r then
  return { 'missing' }
end
if spec.v and r.version ~= spec.v then
  return { 'version', r.blob }
end
for i, other in ipairs(spec.empty or {}) do
  local count = redis.call('ZCARD', rindex(other, 'id'))
  if count > 0 then
    return { 'not_empty', i, count }
  end
end
remove_record(c, id)
for _, other in ipairs(spec.dropc or {}) do
  drop_collection(other)
end
for _, d in ipairs(spec.drop or {}) do
  drop_index(d[1], d[2])
end
if spec.ev then
  record_event(spec.ev, ARGV[6], r, ARGV[7], spec.aud)
end
return { 'ok', r.blob }
