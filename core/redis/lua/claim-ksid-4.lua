--[[
  Claims a ksid for app + device + ufid: the existing one, or the candidate (forced: the candidate
  replaces the existing one, whose device and ufid entries are dropped). Touches keys of one app.

  KEYS[1] the app's hash device NUL ufid → ksid
  KEYS[2] the app's subscribers hash
  KEYS[3] the device's ksid set
  KEYS[4] the ufid's ksid set

  ARGV[1] device id NUL ufid
  ARGV[2] candidate ksid
  ARGV[3] "1": force the candidate, "0": keep an existing ksid

  Returns {ksid, the ksid it replaced or ""}.
]]
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and (ARGV[3] == '0' or existing == ARGV[2]) then return {existing, ''} end
if existing then
  redis.call('HDEL', KEYS[2], existing)
  redis.call('SREM', KEYS[3], existing)
  redis.call('SREM', KEYS[4], existing)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {ARGV[2], existing or ''}
