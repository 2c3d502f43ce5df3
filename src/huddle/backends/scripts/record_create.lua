-- record_create.lua: insert a record with its collection's next id, version 1, with its index
-- entries and unique values, and emit its event; or refuse (nothing changes).
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] collection   ARGV[4] msgpack map of the data   ARGV[5] msgpack write spec
--   {x = {{index, kind, value}...}, u = {{key, value}...}, f = {{collection, id}...},
--    by = actor id, ev = event type or nil,
--    aud = {users, members_of} or nil: the event's audience}
-- ARGV[6] msgpack actor   ARGV[7] msgpack map of the event data (or '')
-- returns {'ok', id, blob} | {'taken', i, holder id, holder blob} | {'unresolved', i}.
-- Keys: the collection's record keys, log.

local c = ARGV[3]
local spec = cmsgpack.unpack(ARGV[5])
local refusal = claim_refusal(c, -1, spec)
if refusal then
  return refusal
end
-- The counter only grows; if it was ever behind the records (a rewound or hand-edited Redis),
-- the ids in use are skipped rather than overwritten.
local id = redis.call('INCR', rkey('rid', c))
while redis.call('HEXISTS', rkey('r', c), id) == 1 do
  id = redis.call('INCR', rkey('rid', c))
end
local r = {
  id = id, version = 1, created = NOW, updated = NOW,
  created_by = spec.by, updated_by = spec.by, data = ARGV[4],
}
store_record(c, r)
index(c, r, spec)
if spec.ev then
  record_event(spec.ev, ARGV[6], r, ARGV[7], spec.aud)
end
return { 'ok', r.id, r.blob }
