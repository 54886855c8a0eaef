--[[
  One page of an app's history with its bounds, from one snapshot.
  Read-only.

  KEYS[1] the app's history stream
  KEYS[2] the app's offset counter

  ARGV[1] exclusive start entry id, "(0-<after>"
  ARGV[2] most messages to return (0: only the bounds)

  Returns {earliest offset held, latest offset, {message, ...}}.
]]
local latest = redis.call('GET', KEYS[2]) or '0'
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local earliest = '0'
if first[1] then earliest = string.sub(first[1][1], 3) end
local messages = {}
if tonumber(ARGV[2]) > 0 then
  local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
  for i, entry in ipairs(entries) do messages[i] = entry[2][2] end
end
return {earliest, latest, messages}
