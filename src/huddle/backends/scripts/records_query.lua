-- records_query.lua: one page of a collection and the number of all matches. Read-only.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[1], ARGV[2] unused
-- ARGV[3] collection   ARGV[4] msgpack query {sort = index, kind = 'n' | 's', desc = bool,
--   offset, limit, filters = {{index, kind, value}...} (value: a score, or a text key; kind
--   'm', a multi-valued index, holds a member per text, so its filter is a text's),
--   ranges = {{index, low, high, open_low, open_high}...} (numeric indexes; low/high nil:
--   unbounded; a null, scored -inf, is in no range),
--   any = {{index, kind, {value...}}...} (distinct values, encoded as a filter's), ids = {id...}
--   or nil}
-- returns {total, id, blob, id, blob ...}.
-- Without filters, ranges, any-ofs and ids the page is read straight from the sort index;
-- otherwise the candidates (the ids, or the members of the most selective filter, range or
-- any-of, each counted first) are checked against every condition, each once, and sorted here
-- in the index's own order (score, then member bytes).

local c = ARGV[3]
local q = cmsgpack.unpack(ARGV[4])
local sort_key = rindex(c, q.sort)
local filters = q.filters or {}
local ranges = q.ranges or {}
local anys = q.any or {}

local function id_of(member)
  return tonumber(string.sub(member, -16))
end

-- Byte order (memcmp), as Redis orders members of equal score; Lua's `<` on strings follows
-- the server's locale instead.
local function bytes_before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- The page of `key` (a zset) by rank; ids in order.
local function page_of(key)
  if q.limit <= 0 then
    return {}
  end
  local stop = q.offset + q.limit - 1
  local members
  if q.desc then
    members = redis.call('ZREVRANGE', key, q.offset, stop)
  else
    members = redis.call('ZRANGE', key, q.offset, stop)
  end
  local ids = {}
  for i, member in ipairs(members) do
    ids[i] = id_of(member)
  end
  return ids
end

local function text_bounds(value)
  return '[' .. value .. '\0', '(' .. value .. '\1'
end

local function bound(value, open, unbounded)
  if value == nil then
    return unbounded
  end
  return (open and '(' or '') .. string.format('%.17g', value)
end

-- ZCOUNT / ZRANGEBYSCORE bounds of a range; below, '(-inf' leaves nulls out.
local function range_bounds(r)
  return bound(r[2], r[4], '(-inf'), bound(r[3], r[5], '+inf')
end

local function in_range(p, r)
  local raw = redis.call('ZSCORE', rindex(c, r[1]), p)
  if not raw or raw == '-inf' then
    return false
  end
  local score = tonumber(raw)
  if r[2] ~= nil and (score < r[2] or (r[4] and score == r[2])) then
    return false
  end
  return r[3] == nil or not (score > r[3] or (r[5] and score == r[3]))
end

local function matches(p, f)
  if f[2] == 'n' then
    local score = redis.call('ZSCORE', rindex(c, f[1]), p)
    return score and tonumber(score) == tonumber(f[3])
  end
  return redis.call('ZSCORE', rindex(c, f[1]), f[3] .. '\0' .. p) ~= false
end

-- The index members record p's last write made ({{index, member}...}, from its :rk entry).
local function members_of(p)
  local blob = redis.call('HGET', rkey('rk', c), tonumber(p))
  if not blob then
    return {}
  end
  return (cmsgpack.unpack(blob))
end

-- The member of record p in the sort index (a text index needs the record's own entries).
local function sort_member(p, listed)
  if q.kind == 'n' then
    local score = redis.call('ZSCORE', sort_key, p)
    return score, p
  end
  for _, x in ipairs(listed()) do
    if x[1] == q.sort then
      return 0, x[2]
    end
  end
  return nil
end

-- Each any-of's values as a set: scores (numbers: 3 and 3.0 are one) or text keys.
for _, a in ipairs(anys) do
  a.set = {}
  for _, v in ipairs(a[3]) do
    a.set[a[2] == 'n' and tonumber(v) or v] = true
  end
end

-- How many members the values of any-of `a` have in its index (a record holding two of them
-- counts twice: an upper bound of its matches, which is what choosing the candidates needs).
local function any_count(a)
  local key, count = rindex(c, a[1]), 0
  for _, v in ipairs(a[3]) do
    if a[2] == 'n' then
      count = count + redis.call('ZCOUNT', key, v, v)
    else
      local low, high = text_bounds(v)
      count = count + redis.call('ZLEXCOUNT', key, low, high)
    end
  end
  return count
end

-- Does record p hold one of any-of a's values? A number: its score is in the set. A text: one
-- of the members its :rk lists for that index has a key in the set and is still in the index
-- (a dropped index leaves the :rk lists behind). O(the record's members), not O(values).
local function any_holds(p, a, listed)
  local key = rindex(c, a[1])
  if a[2] == 'n' then
    local score = redis.call('ZSCORE', key, p)
    return score ~= false and a.set[tonumber(score)] == true
  end
  for _, x in ipairs(listed()) do
    if x[1] == a[1] and a.set[string.sub(x[2], 1, -18)]
        and redis.call('ZSCORE', key, x[2]) then
      return true
    end
  end
  return false
end

local total, ids
if #filters == 0 and #ranges == 0 and #anys == 0 and not q.ids then
  total = redis.call('ZCARD', sort_key)
  ids = page_of(sort_key)
else
  local candidates = {}
  if q.ids then
    local seen = {}
    for _, id in ipairs(q.ids) do
      local p = pid(id)
      if not seen[p] and redis.call('ZSCORE', rindex(c, 'id'), p) then
        seen[p] = true
        candidates[#candidates + 1] = p
      end
    end
  else
    -- The smallest candidate set: a filter's members or a range's, counted first.
    local best, best_count = nil, nil
    for _, f in ipairs(filters) do
      local count
      if f[2] == 'n' then
        count = redis.call('ZCOUNT', rindex(c, f[1]), f[3], f[3])
      else
        local low, high = text_bounds(f[3])
        count = redis.call('ZLEXCOUNT', rindex(c, f[1]), low, high)
      end
      if not best_count or count < best_count then
        best, best_count = { 'filter', f }, count
      end
    end
    for _, r in ipairs(ranges) do
      local low, high = range_bounds(r)
      local count = redis.call('ZCOUNT', rindex(c, r[1]), low, high)
      if not best_count or count < best_count then
        best, best_count = { 'range', r }, count
      end
    end
    for _, a in ipairs(anys) do
      local count = any_count(a)
      if not best_count or count < best_count then
        best, best_count = { 'any', a }, count
      end
    end
    local members
    local kind, b = best[1], best[2]
    if kind == 'any' then
      -- one read per value; a record holding several of them is a candidate once
      local key, seen = rindex(c, b[1]), {}
      members = {}
      for _, v in ipairs(b[3]) do
        local found
        if b[2] == 'n' then
          found = redis.call('ZRANGEBYSCORE', key, v, v)
        else
          local low, high = text_bounds(v)
          found = redis.call('ZRANGEBYLEX', key, low, high)
        end
        for _, member in ipairs(found) do
          local p = string.sub(member, -16)
          if not seen[p] then
            seen[p] = true
            members[#members + 1] = member
          end
        end
      end
    elseif kind == 'range' then
      local low, high = range_bounds(b)
      members = redis.call('ZRANGEBYSCORE', rindex(c, b[1]), low, high)
    elseif b[2] == 'n' then
      members = redis.call('ZRANGEBYSCORE', rindex(c, b[1]), b[3], b[3])
    else
      local low, high = text_bounds(b[3])
      members = redis.call('ZRANGEBYLEX', rindex(c, b[1]), low, high)
    end
    for i, member in ipairs(members) do
      candidates[i] = string.sub(member, -16)
    end
  end
  local found = {}
  for _, p in ipairs(candidates) do
    local xs
    local function listed()
      xs = xs or members_of(p)
      return xs
    end
    local ok = true
    for _, f in ipairs(filters) do
      if not matches(p, f) then
        ok = false
        break
      end
    end
    for _, r in ipairs(ranges) do
      if ok and not in_range(p, r) then
        ok = false
      end
    end
    for _, a in ipairs(anys) do
      if ok and not any_holds(p, a, listed) then
        ok = false
      end
    end
    if ok then
      local score, member = sort_member(p, listed)
      if score then
        found[#found + 1] = { tonumber(score), member }
      end
    end
  end
  table.sort(found, function(a, b)
    if a[1] ~= b[1] then
      return a[1] < b[1]
    end
    return bytes_before(a[2], b[2])
  end)
  total = #found
  ids = {}
  local first, last = q.offset + 1, math.min(q.offset + q.limit, total)
  for rank = first, last do
    local entry = found[q.desc and total - rank + 1 or rank]
    ids[#ids + 1] = id_of(entry[2])
  end
end

local out = { total }
if #ids > 0 then
  local blobs = redis.call('HMGET', rkey('r', c), unpack(ids))
  for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = blobs[i]
  end
end
return out
