-- KEYS: state, slots, this minute's counts; ARGV: now (ms, 0: Redis's clock), token, outcome
-- ('ok': a success; 'refused': the API answered with a permanent failure, so it is up;
-- 'failed': a transient failure, which counts; 'limited': a 429), pause
-- (ms, 0: none), breaker on '1'/'0', open after, cooldown (ms), max cooldown (ms), stats ttl.
-- Returns the breaker's transition, or ''.
redis.call('ZREM', KEYS[2], ARGV[2])
local outcome = ARGV[3]
if outcome ~= 'ok' then
  redis.call('HINCRBY', KEYS[3], 'failures', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[9])
end
local pause = tonumber(ARGV[4])
if pause > 0 then
  local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
  if now + pause > paused then redis.call('HSET', KEYS[1], 'paused_until', now + pause) end
end
if ARGV[5] ~= '1' then return '' end
local f = redis.call('HMGET', KEYS[1], 'state', 'failures', 'probe', 'cooldown')
local state = tonumber(f[1]) or 0
local cooldown = tonumber(ARGV[7])
if state == 2 and f[3] == ARGV[2] then
  if outcome == 'failed' then
    local longer = math.min((tonumber(f[4]) or cooldown) * 2, math.max(cooldown, tonumber(ARGV[8])))
    redis.call('HSET', KEYS[1], 'state', 1, 'until', now + longer, 'cooldown', longer,
               'probe', '', 'changed_at', now)
    return 'reopened'
  end
  redis.call('HSET', KEYS[1], 'state', 0, 'failures', 0, 'cooldown', cooldown, 'probe', '',
             'changed_at', now)
  return 'closed'
end
if outcome == 'failed' then
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if state == 0 and failures >= tonumber(ARGV[6]) then
    redis.call('HSET', KEYS[1], 'state', 1, 'until', now + cooldown, 'cooldown', cooldown,
               'failures', 0, 'changed_at', now)
    redis.call('HINCRBY', KEYS[1], 'opened', 1)
    return 'opened'
  end
elseif outcome ~= 'limited' and tonumber(f[2] or '0') > 0 then
  redis.call('HSET', KEYS[1], 'failures', 0)
end
return ''
