-- KEYS: the cause's window; ARGV: now (ms), window (ms), keep (ms). Returns -1 when the window
-- is open (this one is folded), else how many were folded since the last alert sent.
local now = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'until') or '0') > now then
  redis.call('HINCRBY', KEYS[1], 'folded', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return -1
end
local folded = tonumber(redis.call('HGET', KEYS[1], 'folded') or '0')
redis.call('HSET', KEYS[1], 'until', now + tonumber(ARGV[2]), 'folded', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return folded
