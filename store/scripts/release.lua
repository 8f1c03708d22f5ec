-- KEYS: line, ready, wake, record, minute stats, arq's queue, then arq's keys of the job; ARGV:
-- event id, failed '1'/'0', record prefix, the record's time to live (s), the stats' (s), the
-- final status, the job id ('': leave the job to arq), then field, value, … to write. Writes the
-- event's final fields as `Job.finish` does, ends the job as arq's `finish_job` would, and
-- leaves the line — one round trip.
redis.call('HSET', KEYS[4], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('HINCRBY', KEYS[5], ARGV[6], 1)
redis.call('EXPIRE', KEYS[5], ARGV[5])
if ARGV[7] ~= '' then
  redis.call('DEL', unpack(KEYS, 7))
  redis.call('ZREM', KEYS[6], ARGV[7])
end
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LPOP', KEYS[1])
else
  redis.call('LREM', KEYS[1], 1, ARGV[1])
end
local next = redis.call('LINDEX', KEYS[1], 0)
if not next then return 0 end
local record = ARGV[3] .. next
if ARGV[2] == '1' then redis.call('HSET', record, 'after_failed', ARGV[1]) end
if redis.call('HGET', record, 'parked') == '1' then
  redis.call('RPUSH', KEYS[2], next)
  redis.call('LPUSH', KEYS[3], '1')
  return 1
end
return 0
