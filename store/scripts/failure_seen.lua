-- A dead letter of a failure's cause (store/failures.py): a failure new to the router opens, a
-- resolved one reopens, an open or acknowledged one only counts it. The event joins the
-- failure's events. One script, so two workers seeing the same cause at once open it once.
-- KEYS: 1 the failure, 2 every failure (by latest), 3 its events.
-- ARGV: 1 failure id, 2 now (ms), 3 how long it is kept (ms), 4 rule, 5 action, 6 cause,
-- 7 the event id, 8 its receive time (ms), 9 the error (an excerpt).
-- Returns 'opened', 'reopened' or '' (it was open or acknowledged: no one needs telling again).
local now = tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state')
local change = ''
if not state then
  redis.call('HSET', KEYS[1], 'rule', ARGV[4], 'action', ARGV[5], 'cause', ARGV[6],
             'state', 'open', 'first_at', now, 'opened_at', now)
  change = 'opened'
elseif state == 'resolved' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now)
  redis.call('HDEL', KEYS[1], 'acked_by', 'acked_at', 'note')
  redis.call('HINCRBY', KEYS[1], 'reopened', 1)
  change = 'reopened'
end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last_at', now, 'last_event', ARGV[7], 'last_error', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[3])))
redis.call('ZADD', KEYS[3], 'NX', ARGV[8], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return change
