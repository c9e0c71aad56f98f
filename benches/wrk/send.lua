-- wrk script for benches/run.sh: POST a 64-byte send-to-connection message with the bearer token
-- from WRK_TOKEN (minted by `signalr-loadgen token`). The URL on wrk's command line gives the
-- path, so the same script drives the emulator and the empty axum server.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("WRK_TOKEN") or "")
wrk.body = '{"target":"m","arguments":["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]}'
