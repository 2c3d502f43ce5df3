-- record_update.lua: replace a record's data (version + 1, updated now) if it is still at the
-- expected version, re-index it and emit its event; or refuse (nothing changes). Checks, in
-- order: the guard, existence, the version, unique values, references.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] collection   ARGV[4] id   ARGV[5] msgpack map of the data
-- ARGV[6] msgpack write spec: the create spec (record_create.lua) plus v = expected version,
--   g = guard {entity field, user id, token or nil} or nil, drop = {{collection, index}...}
-- ARGV[7] msgpack actor   ARGV[8] msgpack map of the event data (or '')
-- returns {'ok', blob} | {'locked', lease} | {'stale', lease or false, token} | {'missing'}
--   | {'version', blob} | {'taken', i, holder id, holder blob} | {'unresolved', i}.
-- Keys: the collection's record keys, :locks :lexp :ul:<user> (an expired lease), log.

local c, id = ARGV[3], tonumber(ARGV[4])
local spec = cmsgpack.unpack(ARGV[6])
local refusal = guard_refusal(spec.g)
if refusal then
  return refusal
end
local r = record_of(c, id)
if not r then
  return { 'missing' }
end
if r.version ~= spec.v then
  return { 'version', r.blob }
end
refusal = claim_refusal(c, id, spec)
if refusal then
  return refusal
end
r.version = r.version + 1
r.updated = NOW
r.updated_by = spec.by
r.data = ARGV[5]
store_record(c, r)
unindex(c, id)
index(c, r, spec)
for _, d in ipairs(spec.drop or {}) do
  drop_index(d[1], d[2])
end
if spec.ev then
  record_event(spec.ev, ARGV[7], r, ARGV[8], spec.aud)
end
return { 'ok', r.blob }
