-- A prelude: cancel one pending timer — its record says by what; it leaves arq's queue, its
-- job, and the pending sets (all, its rule's, its wait set). Returns true if it was pending.
local function cancel_timer(record, tid, by, now, queue, timers, job_prefix, rule_prefix,
                            wait_prefix)
  local state, rule, same = unpack(redis.call('HMGET', record, 'timer_state', 'timer_rule',
                                              'timer_same'))
  if state ~= 'pending' then return false end
  redis.call('HSET', record, 'timer_state', 'cancelled', 'status', 'cancelled',
             'timer_cancelled_by', by, 'timer_cancelled_at', now)
  redis.call('ZREM', queue, tid)
  redis.call('DEL', job_prefix .. tid)
  redis.call('ZREM', timers, tid)
  redis.call('ZREM', rule_prefix .. rule, tid)
  redis.call('ZREM', wait_prefix .. rule .. ':' .. same, tid)
  return true
end
