--[[
  Appends encoded protobuf fields to a stored message, if it exists: a reader keeps the last value
  of a singular field, so a changed state is one APPEND (which keeps the TTL) instead of a read,
  a decode, an encode and a rewrite of the whole record. Atomic so that a record dropped meanwhile
  is not brought back as a fragment.

  KEYS[1] the stored message

  ARGV[1] the fields (protobuf wire format)

  Returns 1 if appended, 0 if there is no such record.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('APPEND', KEYS[1], ARGV[1])
return 1
