--[[
  Moves an event handler's cursor forward, never back, if the handler exists.

  KEYS[1] the app's handlers hash
  KEYS[2] the app's handler cursors hash

  ARGV[1] handler id
  ARGV[2] offset

  Returns 1 if the handler exists, 0 if not.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
