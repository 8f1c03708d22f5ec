-- Fire one pending timer — its own job's run, when the worker loop's `timer_fire_due` has not
-- fired it yet. KEYS: 1 pending timers, 2 events not yet begun. ARGV: 1 timer id, 2 now (ms),
-- then as the prelude says. Returns {'fired'}, {'wait', event id} or {its state}.
local state, due = unpack(redis.call('HMGET', ARGV[4] .. ARGV[1], 'timer_state', 'timer_due_at'))
if state ~= 'pending' then return {state or ''} end
local waiting = unbegun_before(KEYS[2], due)
if waiting then return {'wait', waiting} end
fire_timer(ARGV[1], due, ARGV[2], KEYS[1])
return {'fired'}
