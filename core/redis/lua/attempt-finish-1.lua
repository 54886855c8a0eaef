--[[
  eventhos: replaces a started attempt with its outcome, once: the `<n>:done` field is the fence.

  KEYS[1] the execution's attempts hash

  ARGV[1] n
  ARGV[2] attempt (protobuf)

  Returns 1 if written, 0 if the attempt was not started or is finished already.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1] .. ':done', '1') == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
