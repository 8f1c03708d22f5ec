-- KEYS: state, slots, this minute's counts, the set of connection names, the jobs an operator's
-- pause holds; ARGV: now (ms, 0: Redis's clock), token, rate interval (ms, 0: no rate), burst,
-- concurrency (0: none), slot lease (ms), breaker on '1'/'0', probe lease (ms), stats ttl (s),
-- wait while probing (ms), wait for a slot (ms), how far ahead a call may reserve its turn under
-- the rate (ms), the name, the job asking ('' none), how long a job held by an operator's pause
-- waits before it looks again (ms; a resume brings it back at once).
-- Returns {verdict ('go' or a Held), wait (ms: held, how long; go, until its reserved turn),
-- state, probe 1/0, failures in a row} — held by an operator: and who, since when, why.
redis.call('SADD', KEYS[4], ARGV[13])
local f = redis.call('HMGET', KEYS[1], 'state', 'until', 'probe_until', 'paused_until', 'tat',
                     'failures', 'hold_since', 'hold_until', 'hold_by', 'hold_reason')
local state = tonumber(f[1]) or 0
local failures = tonumber(f[6]) or 0
local function held(reason, wait)
  redis.call('HINCRBY', KEYS[3], 'held', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[9])
  return {reason, math.max(1, math.ceil(wait)), state, 0, failures}
end
local hold_since, hold_until = tonumber(f[7]) or 0, tonumber(f[8]) or 0
if hold_since > 0 and hold_until > 0 and hold_until <= now then  -- its --until came
  redis.call('HDEL', KEYS[1], 'hold_since', 'hold_until', 'hold_by', 'hold_reason')
elseif hold_since > 0 then
  if ARGV[14] ~= '' then redis.call('ZADD', KEYS[5], now, ARGV[14]) end
  local wait = tonumber(ARGV[15])
  if hold_until > 0 then wait = math.min(wait, hold_until - now) end
  local answer = held('operator', wait)
  table.insert(answer, f[9] or '')
  table.insert(answer, hold_since)
  table.insert(answer, f[10] or '')
  return answer
end
local paused = tonumber(f[4]) or 0
if paused > now then return held('paused', paused - now) end
local probe = 0
if ARGV[7] == '1' and state ~= 0 then
  if state == 1 and (tonumber(f[2]) or 0) > now then return held('open', tonumber(f[2]) - now) end
  local probe_until = tonumber(f[3]) or 0
  if state == 2 and probe_until > now then
    return held('probing', math.min(probe_until - now, tonumber(ARGV[10])))
  end
  probe = 1
end
local limit = tonumber(ARGV[5])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= limit then return held('concurrency', ARGV[11]) end
end
local interval = tonumber(ARGV[3])
local tat = nil
local wait = 0
if interval > 0 then
  tat = math.max(tonumber(f[5]) or 0, now)
  local fits_at = tat + interval - interval * tonumber(ARGV[4])
  if fits_at - now > tonumber(ARGV[12]) then
    return held('rate', fits_at - now - tonumber(ARGV[12]))
  end
  wait = math.max(0, fits_at - now)
end
if tat then redis.call('HSET', KEYS[1], 'tat', tat + interval) end
if limit > 0 then redis.call('ZADD', KEYS[2], now + wait + tonumber(ARGV[6]), ARGV[2]) end
if probe == 1 then
  redis.call('HSET', KEYS[1], 'state', 2, 'probe', ARGV[2],
             'probe_until', now + wait + tonumber(ARGV[8]))
  redis.call('HINCRBY', KEYS[1], 'probes', 1)
  if state == 1 then redis.call('HSET', KEYS[1], 'changed_at', now) end
end
redis.call('HINCRBY', KEYS[3], 'calls', 1)
redis.call('EXPIRE', KEYS[3], ARGV[9])
return {'go', math.ceil(wait), state, probe, failures}
