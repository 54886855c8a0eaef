--[[
  Creates an event handler unless the app holds `max` already or the id exists. The revision is
  kept apart so that updates compare-and-set without decoding protobuf in Lua.

  KEYS[1] the app's handlers hash (id → handler)
  KEYS[2] the app's handler revisions hash
  KEYS[3] the app's handler cursors hash

  ARGV[1] handler id
  ARGV[2] handler (protobuf)
  ARGV[3] revision
  ARGV[4] cursor: where a first stream of it starts
  ARGV[5] most handlers of the app

  Returns 1 if created, 0 if not.
]]
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
return 1
