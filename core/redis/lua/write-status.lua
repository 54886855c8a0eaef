--[[
  Delivery status writes, any number in one call: each writes a field of a request's status hash
  (HSET for a message record, HSETNX for a delivery mark: the first time wins) and gives the hash a
  TTL unless it has one. A mark may come before its message's record, so either write may create
  the key: both set the TTL, never extend it.

  KEYS[1..n] status hashes, one per write (of different requests: on Redis Cluster the batch must
             be split per slot)

  ARGV[1] TTL (ms)
  ARGV[2..] per key, three values: field, value, "1" for HSETNX

  Returns nothing.
]]
-- Once per key: the writes of a batch call (SendEventBatch) all go to one request's hash.
local expiring = {}
for i, key in ipairs(KEYS) do
  local j = i * 3 - 1
  if ARGV[j + 2] == '1' then
    redis.call('HSETNX', key, ARGV[j], ARGV[j + 1])
  else
    redis.call('HSET', key, ARGV[j], ARGV[j + 1])
  end
  if not expiring[key] then
    redis.call('PEXPIRE', key, ARGV[1], 'NX')
    expiring[key] = true
  end
end
