--[[
  Deletes an event handler with its revision and cursor.

  KEYS[1] the app's handlers hash
  KEYS[2] the app's handler revisions hash
  KEYS[3] the app's handler cursors hash

  ARGV[1] handler id

  Returns the handler deleted (protobuf), or nil if there was none.
]]
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return value
