-- Fire a pending timer, once, no earlier than every event received before its due time has
-- begun its run (and so has cancelled it, if it cancels it): an event whose job is gone will
-- never begin and is dropped from that set. A fired timer leaves the pending sets, joins its
-- process's timeline and — with ordering — the end of its process's line, as an event would.
-- KEYS: 1 the timer's record, 2 events not yet begun, 3 pending timers, 4 the rule's pending
-- timers, 5 the process's line, 6 the process's hash, 7 the process's timeline.
-- ARGV: 1 timer id, 2 now (ms), 3 job prefix, 4 'line': join the timeline and the line,
-- 'timeline': the timeline only, '': neither (no process), 5 time to live (ms).
-- Returns {'fired'}, {'wait', event id} or {its state}.
local state, due = unpack(redis.call('HMGET', KEYS[1], 'timer_state', 'timer_due_at'))
if state ~= 'pending' then return {state or ''} end
while true do
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. due, 'LIMIT', 0, 1)[1]
  if not oldest then break end
  if redis.call('EXISTS', ARGV[3] .. oldest) == 1 then return {'wait', oldest} end
  redis.call('ZREM', KEYS[2], oldest)
end
redis.call('HSET', KEYS[1], 'timer_state', 'fired', 'timer_fired_at', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[7], due, ARGV[1])
  redis.call('PEXPIRE', KEYS[7], ARGV[5])
  if ARGV[4] == 'line' then
    redis.call('RPUSH', KEYS[5], ARGV[1])
    redis.call('PEXPIRE', KEYS[5], ARGV[5])
    redis.call('HSET', KEYS[1], 'seq', redis.call('HINCRBY', KEYS[6], 'seq', 1))
    redis.call('PEXPIRE', KEYS[6], ARGV[5])
  end
end
return {'fired'}
