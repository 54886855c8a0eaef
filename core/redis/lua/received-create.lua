--[[
  eventhos: stores a received event and its executions unless it exists, indexes it by time (all
  events, and per event), drops index entries older than the retention. Every key expires with the
  retention.

  KEYS[1] the received event
  KEYS[2] the index of all received events (zset)
  KEYS[3] the event's index (zset)
  KEYS[4..n] one per execution

  ARGV[1] received event (protobuf)
  ARGV[2] score: receive time (ms)
  ARGV[3] received id
  ARGV[4] TTL (ms)
  ARGV[5] oldest score kept
  ARGV[6..] the executions (protobuf), in KEYS order

  Returns 1 if stored, 0 if it existed.
]]
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[4]) == false then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
for i = 4, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 2], 'PX', ARGV[4]) end
return 1
