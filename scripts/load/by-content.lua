-- wrk: POST /matches/byContent with one audio clip (EARMARK_LOAD_CLIP).
local f = assert(io.open(os.getenv("EARMARK_LOAD_CLIP"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/matches/byContent?alg=io.earmark.v1"
wrk.headers["Content-Type"] = "audio/mpeg"
