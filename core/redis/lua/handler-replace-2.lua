--[[
  Replaces an event handler if its stored revision is the expected one (compare-and-set).

  KEYS[1] the app's handlers hash
  KEYS[2] the app's handler revisions hash

  ARGV[1] handler id
  ARGV[2] handler (protobuf)
  ARGV[3] its new revision
  ARGV[4] the revision expected to be stored

  Returns 1 if written, 0 if not.
]]
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
