--[[
  Publishes a batch of messages of one app in one atomic step, optionally under an idempotency key:
  either every message gets its msg id and offset (consecutive), is appended to the app's capped
  history and published on the app's channel, in order, or none is. With a key, the decision to
  publish is taken here too, so that a repeat from any instance, racing or not, publishes nothing
  and answers the first batch's ids. Each message is the envelope followed by Event.msg_id (field 1,
  tag 0x0a, length, ASCII digits) and Event.offset (field 2, tag 0x10, varint), byte-identical to
  appendIds (core/bus/envelope.ts). Lua numbers are doubles: ids stay exact up to 2^53.

  KEYS[1] the msg id counter: the global one, or on a Cluster the counter of the app's slot
  KEYS[2] the app's offset counter
  KEYS[3] the app's history stream
  KEYS[4] the idempotency record of the key (hash: f fingerprint, i ids, m memo); any key of the
          app's slot when ARGV[3] is 0

  ARGV[1] history size (MAXLEN ~)
  ARGV[2] the app's channel
  ARGV[3] idempotency window (ms); 0: no idempotency key, KEYS[4] is not touched
  ARGV[4] fingerprint of the request (ignored when ARGV[3] is 0)
  ARGV[5] memo kept with the key (ignored when ARGV[3] is 0)
  ARGV[6] what msg ids start above: 0 on one Redis, slot × 2^39 on a Cluster (the counter counts
          from 1 on top of it)
  ARGV[7] the publish command: PUBLISH, or SPUBLISH (sharded pub/sub, Redis Cluster)
  ARGV[8..] the envelopes (protobuf Event without msg_id and offset); none: only look the key up

  Returns {'P', first msg id, first offset, count, ''} when published, {'R', first msg id, first
  offset, count, memo} when the key was already used by the same request (nothing published),
  {'C'} when it was used by another request, or the XADD error (nothing written).
]]
local keyed = ARGV[3] ~= '0'
if keyed then
  local rec = redis.call('HMGET', KEYS[4], 'f', 'i', 'm')
  if rec[1] then
    if rec[1] ~= ARGV[4] then return {'C'} end
    local first, off, count = string.match(rec[2], '^(%d+),(%d+),(%d+)$')
    return {'R', first, off, count, rec[3] or ''}
  end
end
local count = #ARGV - 7
-- No envelope (every send of the request had only invalid subscribers): a look-up, nothing kept.
if count == 0 then return {'P', '0', '0', '0', ''} end
local lastid = redis.call('INCRBY', KEYS[1], count)
local lastoff = redis.call('INCRBY', KEYS[2], count)
local firstid = tonumber(ARGV[6]) + lastid - count + 1
local firstoff = lastoff - count + 1
local datas = {}
for i = 0, count - 1 do
  local id = string.format('%d', firstid + i)
  local offset = firstoff + i
  local n = offset
  local v = {}
  while n >= 128 do
    v[#v + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  v[#v + 1] = string.char(n)
  local data = ARGV[8 + i] .. '\10' .. string.char(#id) .. id .. '\16' .. table.concat(v)
  local entry = '0-' .. string.format('%d', offset)
  if i == 0 then
    -- Only the first append can fail (an entry id at or below the stream's last, after someone wrote
    -- to it by hand): the next ids are greater. Scripts do not roll back: undo the counters so that
    -- a refused batch leaves no offset gap.
    local added = redis.pcall('XADD', KEYS[3], entry, 'd', data)
    if type(added) == 'table' and added.err then
      redis.call('DECRBY', KEYS[2], count)
      redis.call('DECRBY', KEYS[1], count)
      return added
    end
  else
    redis.call('XADD', KEYS[3], entry, 'd', data)
  end
  datas[#datas + 1] = data
end
redis.call('XTRIM', KEYS[3], 'MAXLEN', '~', ARGV[1])
for i = 1, #datas do
  redis.call(ARGV[7], ARGV[2], datas[i])
end
local first = string.format('%d', firstid)
local off = string.format('%d', firstoff)
if keyed then
  redis.call('HSET', KEYS[4], 'f', ARGV[4], 'i', first .. ',' .. off .. ',' .. count, 'm', ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
return {'P', first, off, string.format('%d', count), ''}
