-- Fire the pending timers that are due, soonest first, up to a limit — from the worker's loop,
-- apart from the jobs that then run their actions, so a timer fires on time however long the
-- queue ahead of its run. Stops at the first one that must wait for an event not yet begun;
-- leaves to its own job one whose rule is not among the rules that wait (its job cancels it).
-- KEYS: 1 pending timers, 2 events not yet begun. ARGV: 1 now (ms), 2 the limit, then as the
-- prelude says, then from 11 the rules with `after:`. Returns {timer id, due (ms), rule, …} of
-- those fired.
local waiting = {}
for i = 11, #ARGV do waiting[ARGV[i]] = true end
local fired = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do
  local tid, at = due[i], due[i + 1]
  if unbegun_before(KEYS[2], at) then break end
  local state, rule = unpack(redis.call('HMGET', ARGV[4] .. tid, 'timer_state', 'timer_rule'))
  if state == 'pending' and not waiting[rule] then
    -- its rule is gone: its own job cancels it, saying why
  elseif state == 'pending' then
    table.insert(fired, tid)
    table.insert(fired, at)
    table.insert(fired, fire_timer(tid, at, ARGV[1], KEYS[1]))
  else
    redis.call('ZREM', KEYS[1], tid)  -- not pending: nothing of it belongs here
  end
end
return fired
