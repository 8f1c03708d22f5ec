-- Queue an event again (a replay): the job is written only if none is waiting or running for it.
-- KEYS: 1 the job, 2 arq's queue, 3 the record, 4 the wake list, 5 its process's line ('' when
-- it has none). ARGV: 1 the job's time to live (ms), 2 the job, 3 now (ms), 4 the event id,
-- 5 the wake list's cap. An event that was in its process's line when received joins its end
-- again (unless it is in it still: a held event keeps its place), so a replay runs in its turn.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], 'status', 'queued')
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, ARGV[5])
if KEYS[5] ~= '' and not redis.call('LPOS', KEYS[5], ARGV[4]) then
  redis.call('RPUSH', KEYS[5], ARGV[4])
  redis.call('PEXPIRE', KEYS[5], ARGV[1])
end
return 1
