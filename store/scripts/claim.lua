-- Claim a job for this worker, as arq's start_jobs does: not marked in progress, still in the
-- queue and due → mark it in progress (for the job timeout + 10 s); its score, or nil.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
