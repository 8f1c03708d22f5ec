-- One round trip, atomic: the dedup marker, the job payload, its place in the queue and the
-- event record are written together or not at all (a script runs to completion, and the AOF
-- records its effects as one MULTI/EXEC block). A token on `router:wake` wakes an idle worker.
-- The record keeps the body as received (the console shows it; arq drops the job once run), and
-- the event joins the time index, whose ids older than the records are dropped as it grows; the
-- minute's counts go up. With ordering, an event of a process joins the end of its process's
-- line and gets the process's next sequence number (store/ordering.py); every event of a process
-- joins its timeline (`router:process:{id}:events`). Until its run begins, the event is in
-- `router:unstarted` (store/timers.py: no timer fires while an event received before it may
-- still cancel it).
-- Every call raises the `router:acked` counter and returns it: see `Enqueuer` for why.
local counted = redis.call('INCR', KEYS[10])
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  -- A write even here: WAIT then covers the first copy's write too (it waits for this
  -- connection's latest write), so a retried delivery is answered only once it is replicated.
  redis.call('HINCRBY', KEYS[7], 'duplicates', 1)
  return {0, counted}
end
redis.call('PSETEX', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[5])
redis.call('HSET', KEYS[4], 'received_at', ARGV[1], 'type', ARGV[6], 'status', 'queued',
           'process_id', ARGV[9], 'event', ARGV[10])
if ARGV[14] ~= '' then redis.call('HSET', KEYS[4], 'trace_id', ARGV[14]) end
redis.call('PEXPIRE', KEYS[4], ARGV[7])
redis.call('LPUSH', KEYS[5], '1')
redis.call('LTRIM', KEYS[5], 0, ARGV[8])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. (ARGV[1] - ARGV[7]))
redis.call('ZADD', KEYS[12], ARGV[1], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[12], '-inf', '(' .. (ARGV[1] - ARGV[7]))
redis.call('HINCRBY', KEYS[7], 'received', 1)
redis.call('HINCRBY', KEYS[7], 'type:' .. ARGV[13], 1)
redis.call('EXPIRE', KEYS[7], ARGV[11])
if ARGV[9] ~= '' then  -- the process's events, all of them, for its timeline
  redis.call('ZADD', KEYS[11], ARGV[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[11], ARGV[7])
end
if ARGV[12] == '1' and ARGV[9] ~= '' then
  redis.call('RPUSH', KEYS[8], ARGV[5])
  redis.call('PEXPIRE', KEYS[8], ARGV[7])
  redis.call('HSET', KEYS[4], 'seq', redis.call('HINCRBY', KEYS[9], 'seq', 1))
  redis.call('PEXPIRE', KEYS[9], ARGV[7])
end
return {1, counted}
