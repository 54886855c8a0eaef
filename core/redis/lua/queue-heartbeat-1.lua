--[[
  Resets the idle time of a pending work queue entry only if this consumer still owns it, so that
  a stalled owner never takes a job back from the instance that took it over.

  KEYS[1] the queue's stream

  ARGV[1] consumer group
  ARGV[2] consumer
  ARGV[3] entry id

  Returns 1 if the caller owns the entry, 0 if not.
]]
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
