--[[
  eventhos: records attempt n of an execution only if absent.

  KEYS[1] the execution's attempts hash

  ARGV[1] n
  ARGV[2] attempt (protobuf)
  ARGV[3] TTL (ms)

  Returns 1 if recorded, 0 if attempt n exists.
]]
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX')
return 1
