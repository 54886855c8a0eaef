--[[
  Ends a work queue entry: acknowledged and deleted together, so that the stream holds only
  unfinished work (its length is the queue's depth). One command where a MULTI/EXEC took four.

  KEYS[1] the queue's stream

  ARGV[1] consumer group
  ARGV[2] entry id

  Returns the number of entries deleted (0 when it was gone already).
]]
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
