--[[
  Publishes a message of an app: assigns its msg id and offset, appends it to the app's capped
  history and publishes it on the app's channel, in one atomic step, so that history order is
  delivery order. The message is the envelope followed by Event.msg_id (field 1, tag 0x0a, length,
  ASCII digits) and Event.offset (field 2, tag 0x10, varint), byte-identical to appendIds
  (core/bus/envelope.ts). Lua numbers are doubles: ids stay exact up to 2^53.

  KEYS[1] the global msg id counter
  KEYS[2] the app's offset counter
  KEYS[3] the app's history stream

  ARGV[1] the envelope (protobuf Event without msg_id and offset)
  ARGV[2] history size (MAXLEN ~)
  ARGV[3] the app's channel

  Returns {msgId, offset} as strings, or the XADD error (the counters are put back first).
]]
local msgid = redis.call('INCR', KEYS[1])
local offset = redis.call('INCR', KEYS[2])
local id = string.format('%d', msgid)
local off = string.format('%d', offset)
local n = offset
local v = {}
while n >= 128 do
  v[#v + 1] = string.char(n % 128 + 128)
  n = math.floor(n / 128)
end
v[#v + 1] = string.char(n)
local data = ARGV[1] .. '\10' .. string.char(#id) .. id .. '\16' .. table.concat(v)
local added = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '0-' .. off, 'd', data)
if type(added) == 'table' and added.err then
  -- Scripts do not roll back: undo the counters so that a failed append leaves no offset gap.
  redis.call('DECR', KEYS[2])
  redis.call('DECR', KEYS[1])
  return added
end
redis.call('PUBLISH', ARGV[3], data)
return {id, off}
