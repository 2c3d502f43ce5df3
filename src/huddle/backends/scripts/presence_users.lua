-- presence_users.lua: how many live sessions each of the given users has. Read-only; costs
-- O(users x their sessions), never a scan of the workspace.
-- KEYS[1] workspace base (see _lib.lua)   ARGV[3..] user ids
-- returns {count, ...} in the order asked. Keys: :pu:<user> :pexp.

local out = {}
for i = 3, #ARGV do
  local live = 0
  for _, sid in ipairs(redis.call('SMEMBERS', user_sessions_key(ARGV[i]))) do
    local expires_at_ms = tonumber(redis.call('ZSCORE', K_PEXP, sid))
    if expires_at_ms and expires_at_ms > NOW then
      live = live + 1
    end
  end
  out[#out + 1] = live
end
return out
