-- Skip an event that holds its process's line (`dlq skip`): it leaves the line, says who skipped
-- it, and the next event of the process — parked behind it — is woken.
-- KEYS: 1 its record, 2 the line, 3 the held processes, 4 ready, 5 ready's wake list.
-- ARGV: 1 event id, 2 by whom, 3 now (ms), 4 the process id, 5 record prefix.
-- Returns 0 if it held no line (nothing changed), 1 if skipped, 2 if skipped and one woken.
if redis.call('HDEL', KEYS[1], 'holds_line') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'skipped_by', ARGV[2], 'skipped_at', ARGV[3])
redis.call('LREM', KEYS[2], 1, ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[4])
local next = redis.call('LINDEX', KEYS[2], 0)
if not next then return 1 end
redis.call('HSET', ARGV[5] .. next, 'after_failed', ARGV[1])
if redis.call('HGET', ARGV[5] .. next, 'parked') == '1' then
  redis.call('RPUSH', KEYS[4], next)
  redis.call('LPUSH', KEYS[5], '1')
  return 2
end
return 1
