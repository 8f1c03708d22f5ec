-- Start a rule's timer for one starting event, once: a second call (a re-run, a replay) finds
-- its record and changes nothing. A cancelling event already seen — received after the start
-- and before the due time — makes it start cancelled. A full cap refuses it (the caller
-- dead-letters the rule with the reason).
-- KEYS: 1 the timer's record, 2 its arq job, 3 arq's queue, 4 pending timers, 5 the rule's
-- pending timers, 6 the process's timers, 7 its wait set, 8 the cancelling events seen,
-- 9 the starting event's record.
-- ARGV: 1 timer id, 2 due (ms), 3 the start's receipt (ms), 4 the record's time to live (ms),
-- 5 the job, 6 the cap in all, 7 the cap per rule, 8 rule, 9 the starting event's id, 10 its
-- type, 11 process id ('' none), 12 its body, 13 now (ms), 14 the `same` digest, 15 the
-- record prefix.
-- Returns {outcome, detail}: started, exists (state), cancelled (by), full (all | rule).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists', redis.call('HGET', KEYS[1], 'timer_state') or ''}
end
local fields = {'timer_rule', ARGV[8], 'timer_started_by', ARGV[9], 'timer_due_at', ARGV[2],
                'timer_started_at', ARGV[3], 'timer_same', ARGV[14], 'type', ARGV[10],
                'process_id', ARGV[11], 'event', ARGV[12], 'received_at', ARGV[2],
                'timer_created_at', ARGV[13]}
-- A set's time to live only grows: another rule's timer may be due later.
local function keep(key)
  if redis.call('PTTL', key) < tonumber(ARGV[4]) then redis.call('PEXPIRE', key, ARGV[4]) end
end
local outcome, detail = 'started', ''
local seen = redis.call('ZRANGEBYSCORE', KEYS[8], ARGV[3], '(' .. ARGV[2], 'LIMIT', 0, 1)
if seen[1] then
  outcome, detail = 'cancelled', seen[1]
  redis.call('HSET', KEYS[1], 'timer_state', 'cancelled', 'status', 'cancelled',
             'timer_cancelled_by', seen[1], 'timer_cancelled_at', ARGV[13], unpack(fields))
  if redis.call('EXISTS', ARGV[15] .. seen[1]) == 1 then  -- said on its record, if still kept
    redis.call('HSET', ARGV[15] .. seen[1], 'cancels:' .. ARGV[1], 'cancelled')
  end
else
  if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then return {'full', 'all'} end
  if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[7]) then return {'full', 'rule'} end
  redis.call('HSET', KEYS[1], 'timer_state', 'pending', 'status', 'queued', unpack(fields))
  redis.call('PSETEX', KEYS[2], ARGV[4], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[7], ARGV[2], ARGV[1])
  keep(KEYS[7])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[11] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
  keep(KEYS[6])
end
if redis.call('EXISTS', KEYS[9]) == 1 then
  redis.call('HSET', KEYS[9], 'timer:' .. ARGV[8], ARGV[1])
end
return {outcome, detail}
