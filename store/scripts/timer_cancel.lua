-- Cancel one timer by hand or because its rule is gone. KEYS: 1 its record, 2 arq's queue,
-- 3 pending timers. ARGV: 1 timer id, 2 by what, 3 now (ms), 4 job prefix, 5 rule timers
-- prefix, 6 wait set prefix. Returns 1 if it was pending, else its state.
if cancel_timer(KEYS[1], ARGV[1], ARGV[2], ARGV[3], KEYS[2], KEYS[3], ARGV[4], ARGV[5],
                ARGV[6]) then
  return 1
end
return redis.call('HGET', KEYS[1], 'timer_state') or ''
