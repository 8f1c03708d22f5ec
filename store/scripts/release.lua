-- KEYS: line, ready, wake, record, minute stats, arq's queue, the held processes, then arq's
-- keys of the job; ARGV: event id, '0' done / '1' failed / '2' failed and holding its line
-- (ROUTER_ORDERING_ON_FAILURE=hold, or the rule's `on_failure: hold`), record prefix, the
-- record's time to live (s), the stats' (s), the final status, the job id ('': leave the job to
-- arq), the process id, now (ms), then field, value, … to write. Writes the event's final fields as
-- `Job.finish` does, ends the job as arq's `finish_job` would, and leaves the line — or, holding
-- it, stays at its head (the process is held until the event is replayed and succeeds, or
-- skipped: store/ordering.py) — one round trip.
redis.call('HSET', KEYS[4], unpack(ARGV, 10))
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('HINCRBY', KEYS[5], ARGV[6], 1)
redis.call('EXPIRE', KEYS[5], ARGV[5])
if ARGV[7] ~= '' then
  redis.call('DEL', unpack(KEYS, 8))
  redis.call('ZREM', KEYS[6], ARGV[7])
end
if ARGV[2] == '2' then
  redis.call('HSET', KEYS[4], 'holds_line', '1')
  redis.call('ZADD', KEYS[7], 'NX', ARGV[9], ARGV[8])
  return 0
end
if redis.call('HDEL', KEYS[4], 'holds_line') == 1 then redis.call('ZREM', KEYS[7], ARGV[8]) end
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
