-- A prelude of the fire scripts. ARGV of both, from 3 on: 3 job prefix, 4 record prefix,
-- 5 rule timers prefix, 6 process prefix, 7 its timeline's suffix, 8 its line's suffix,
-- 9 '1': join the process's line (ordering), 10 time to live (ms).

-- The oldest event received before `due` whose run has not begun, or nil: a timer fires only
-- once each of those began (and cancelled it, if it cancels it). An event whose job is gone
-- will never begin, and leaves the set.
local function unbegun_before(unstarted, due)
  while true do
    local oldest = redis.call('ZRANGEBYSCORE', unstarted, '-inf', '(' .. due, 'LIMIT', 0, 1)[1]
    if not oldest then return nil end
    if redis.call('EXISTS', ARGV[3] .. oldest) == 1 then return oldest end
    redis.call('ZREM', unstarted, oldest)
  end
end

-- Fire a pending timer: it leaves the pending sets, joins its process's timeline and, with
-- ordering, the end of its process's line — as an event would. Its rule's name, for counting.
local function fire_timer(tid, due, now, timers)
  local record = ARGV[4] .. tid
  local rule, process = unpack(redis.call('HMGET', record, 'timer_rule', 'process_id'))
  redis.call('HSET', record, 'timer_state', 'fired', 'timer_fired_at', now)
  redis.call('ZREM', timers, tid)
  redis.call('ZREM', ARGV[5] .. rule, tid)
  if process and process ~= '' then
    local base = ARGV[6] .. process
    redis.call('ZADD', base .. ARGV[7], due, tid)
    redis.call('PEXPIRE', base .. ARGV[7], ARGV[10])
    if ARGV[9] == '1' then
      redis.call('RPUSH', base .. ARGV[8], tid)
      redis.call('PEXPIRE', base .. ARGV[8], ARGV[10])
      redis.call('HSET', record, 'seq', redis.call('HINCRBY', base, 'seq', 1))
      redis.call('PEXPIRE', base, ARGV[10])
    end
  end
  return rule
end
