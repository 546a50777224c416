-- wrk: GET /matches/byBinding for random payloads of one key (most of them
-- in the catalogue, as a platform's lookups of decoded markers would be).
local key = os.getenv("EARMARK_LOAD_KEY")
local first = tonumber(os.getenv("EARMARK_LOAD_FIRST"))
local rows = tonumber(os.getenv("EARMARK_LOAD_ROWS"))

function setup(thread)
  thread:set("seed", math.random(1, 1e9))
end

function init(args)
  math.randomseed(seed or os.time())
end

function request()
  local id = first + math.random(0, rows - 1)
  return wrk.format("GET", "/matches/byBinding?alg=io.earmark.v1&value=" .. key .. ":" .. id)
end
