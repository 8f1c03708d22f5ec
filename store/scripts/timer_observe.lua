-- An event that matches rules' `unless:`: for each (rule, same values) it is noted as seen —
-- a timer started later, by an event received before it, starts cancelled — and cancels the
-- pending timers started by events received no later than it and due after it came. Timers
-- already due when it came are not changed; the ten latest are told (`timer_late_by`).
-- KEYS: 1 the event's record, 2 arq's queue, 3 pending timers, then per rule: the cancelling
-- events seen, the wait set.
-- ARGV: 1 event id, 2 its receipt (ms), 3 now (ms), 4 how long a mark is kept (ms), 5 record
-- prefix, 6 job prefix, 7 rule timers prefix, 8 wait set prefix.
-- Returns {timer id, 'cancelled' | 'late', the rule's place in KEYS (0 first), …}.
local found = {}
local received = tonumber(ARGV[2])
-- What the event did to a timer: said on its record and in the answer.
local function concerned(tid, outcome, i)
  redis.call('HSET', KEYS[1], 'cancels:' .. tid, outcome)
  table.insert(found, tid)
  table.insert(found, outcome)
  table.insert(found, (i - 4) / 2)
end
for i = 4, #KEYS, 2 do
  local seen, wait = KEYS[i], KEYS[i + 1]
  redis.call('ZADD', seen, received, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (tonumber(ARGV[3]) - tonumber(ARGV[4])))
  redis.call('PEXPIRE', seen, ARGV[4])
  for _, tid in ipairs(redis.call('ZRANGEBYSCORE', wait, '(' .. ARGV[2], '+inf')) do
    local record = ARGV[5] .. tid
    local started = tonumber(redis.call('HGET', record, 'timer_started_at') or '0')
    if started <= received and cancel_timer(record, tid, ARGV[1], ARGV[3], KEYS[2], KEYS[3],
                                            ARGV[6], ARGV[7], ARGV[8]) then
      concerned(tid, 'cancelled', i)
    end
  end
  for _, tid in ipairs(redis.call('ZREVRANGEBYSCORE', wait, ARGV[2], '-inf', 'LIMIT', 0, 10)) do
    local record = ARGV[5] .. tid
    local started = tonumber(redis.call('HGET', record, 'timer_started_at') or '0')
    if started <= received and redis.call('HSETNX', record, 'timer_late_by', ARGV[1]) == 1 then
      concerned(tid, 'late', i)
    end
  end
  redis.call('ZREMRANGEBYSCORE', wait, '-inf', '(' .. (tonumber(ARGV[3]) - tonumber(ARGV[4])))
end
return found
