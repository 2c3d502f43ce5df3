-- record_batch.lua: several record writes (creates, updates, deletes, on any collections of
-- the workspace) as one step. Each op is checked as its single script checks it, against the
-- store as the ops before it would leave it (a view kept in Lua tables, the store only read);
-- a script cannot roll back, so nothing is written until the last op passed. Then every op is
-- written in order with the single scripts' functions, its event right after it.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1] candidate epoch   ARGV[2] log length
-- ARGV[3] msgpack array of op specs: k = 'c' | 'u' | 'd' (create, update, delete),
--   c = collection, id = record id (nil for a create under the next id), and the spec of the
--   single script: create {x, u, f, by, ev}, update {x, u, f, by, ev, v, g}, delete {v, g, ev}
-- ARGV[4 + 3(i - 1)], +1, +2, for op i: the msgpack map of its data ('' for a delete), its
--   event's msgpack actor and msgpack map of data ('' without an event)
-- returns {'ok', id, blob, id, blob ...}: per op the record as written (a delete: as it was)
--   | {'unreserved', i}: op i creates under an id above its collection's counter (checked for
--     every op before any other check; nothing read further)
--   | {verdict, i, ...}: op i is refused with its single script's answer ('locked', 'stale',
--     'missing', 'version', 'taken', 'unresolved'); a create under an id that holds a record
--     answers {'version', i, blob}.
-- Keys: the record keys of the collections named, :locks :lexp :ul:<user> (an expired lease
-- met by a guard is ended, as by a single write), log.

local ops = cmsgpack.unpack(ARGV[3])

local function argv_of(i, n)
  return ARGV[4 + 3 * (i - 1) + n]
end

-- The view: per collection, records written (false: deleted), the unique values each record
-- holds, holders of unique values (false: released), and the next-id counters used.
local records, keys_of, holders, counters = {}, {}, {}, {}

local function of(t, c)
  local s = t[c]
  if not s then
    s = {}
    t[c] = s
  end
  return s
end

local function view_record(c, id)
  local r = of(records, c)[id]
  if r == nil then
    return record_of(c, id)
  end
  return r or nil
end

local function view_holder(c, name, value)
  local by_value = of(holders, c)[name]
  local h = by_value and by_value[value]
  if h == nil then
    return tonumber(redis.call('HGET', runique(c, name), value))
  end
  return h or nil
end

local function set_holder(c, name, value, id)
  local by_name = of(holders, c)
  by_name[name] = by_name[name] or {}
  by_name[name][value] = id
end

-- The unique values record `id` holds: as written in the view, or by its last stored write.
local function view_keys(c, id)
  local us = of(keys_of, c)[id]
  if us then
    return us
  end
  local blob = redis.call('HGET', rkey('rk', c), id)
  if not blob then
    return {}
  end
  local _, stored = cmsgpack.unpack(blob)
  return stored or {}
end

local function release(c, id)
  for _, u in ipairs(view_keys(c, id)) do
    if view_holder(c, u[1], u[2]) == id then
      set_holder(c, u[1], u[2], false)
    end
  end
end

local function view_put(c, r, us)
  release(c, r.id)
  of(records, c)[r.id] = r
  of(keys_of, c)[r.id] = us
  for _, u in ipairs(us) do
    set_holder(c, u[1], u[2], r.id)
  end
end

local function view_remove(c, id)
  release(c, id)
  of(records, c)[id] = false
  of(keys_of, c)[id] = {}
end

-- As record_create.lua takes an id, without writing the counter yet.
local function next_id(c)
  local id = counters[c] or tonumber(redis.call('GET', rkey('rid', c))) or 0
  repeat
    id = id + 1
  until redis.call('HEXISTS', rkey('r', c), id) == 0
  counters[c] = id
  return id
end

-- claim_refusal (_lib.lua) over the view.
local function view_claim_refusal(c, id, spec)
  for j, u in ipairs(spec.u or {}) do
    local holder = view_holder(c, u[1], u[2])
    if holder and holder ~= id then
      local h = view_record(c, holder)
      return { 'taken', j, holder, h and h.blob or false }
    end
  end
  for j, f in ipairs(spec.f or {}) do
    local target = view_record(f[1], f[2])
    if not target or (f[3] and target.version ~= f[3]) then
      return { 'unresolved', j }
    end
  end
  return nil
end

-- The record op i would write (a delete: the record it removes), entered in the view; or
-- nil and the refusal.
local function check(i, op)
  local c, id = op.c, op.id
  if op.k ~= 'c' then
    local refusal = guard_refusal(op.g)
    if refusal then
      return nil, refusal
    end
  end
  local old = id and view_record(c, id)
  local r
  if op.k == 'c' then
    if old then -- a create under an id is a compare-and-set from "no record"
      return nil, { 'version', old.blob }
    end
    r = {
      id = id or next_id(c), version = 1, created = NOW, updated = NOW,
      created_by = op.by, updated_by = op.by, data = argv_of(i, 0),
    }
  elseif not old then
    return nil, { 'missing' }
  elseif op.v and old.version ~= op.v then
    return nil, { 'version', old.blob }
  elseif op.k == 'd' then
    view_remove(c, id)
    return old
  else
    r = {
      id = id, version = old.version + 1, created = old.created, updated = NOW,
      created_by = old.created_by, updated_by = op.by, data = argv_of(i, 0),
    }
  end
  local refusal = view_claim_refusal(c, r.id, op)
  if refusal then
    return nil, refusal
  end
  r.blob = record_blob(r)
  view_put(c, r, op.u or {})
  return r
end

for i, op in ipairs(ops) do
  if op.k == 'c' and op.id and op.id > (tonumber(redis.call('GET', rkey('rid', op.c))) or 0) then
    return { 'unreserved', i }
  end
end

local plan = {}
for i, op in ipairs(ops) do
  local r, refusal = check(i, op)
  if not r then
    table.insert(refusal, 2, i)
    return refusal
  end
  plan[i] = r
end

-- Every op passed: write them in order, as record_create/update/delete.lua do.
local reply = { 'ok' }
for i, op in ipairs(ops) do
  local c, r = op.c, plan[i]
  if op.k == 'd' then
    remove_record(c, r.id)
  else
    store_record(c, r)
    if op.k == 'u' then
      unindex(c, r.id)
    end
    index(c, r, op)
  end
  if op.ev then
    record_event(op.ev, argv_of(i, 1), r, argv_of(i, 2), op.aud)
  end
  reply[#reply + 1] = r.id
  reply[#reply + 1] = r.blob
end
for c, id in pairs(counters) do
  redis.call('SET', rkey('rid', c), id)
end
return reply
