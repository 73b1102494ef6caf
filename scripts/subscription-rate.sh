#!/usr/bin/env bash
# Subscriptions at the carrier's rate: 10,000 registrations in batches of 1,000 against a fake
# Kuaidi100 (scripts/fake-kuaidi100.py) that notes when each subscription arrives; prints the most
# requests seen in any one second against the configured rate. RPS=50 scripts/subscription-rate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/trackgate}
[ -x "$BIN" ] || cargo build --locked --bin trackgate
dir=$(mktemp -d)
python3 scripts/fake-kuaidi100.py 9310 & fake=$!
export TRACKGATE__DATABASE__URL="sqlite://$dir/tg.db?mode=rwc"
export TRACKGATE__SERVER__LISTEN=127.0.0.1:9311
export TRACKGATE__SERVER__PUBLIC_URL=https://gw.example.com
export TRACKGATE__CARRIERS__KUAIDI100__BASE_URL=http://127.0.0.1:9310
export TRACKGATE__CARRIERS__KUAIDI100__KEY=k
export TRACKGATE__CARRIERS__KUAIDI100__SALT=s
export TRACKGATE__CARRIERS__KUAIDI100__REQUESTS_PER_SECOND=${RPS:-200}
export TRACKGATE__POLL__ENABLED=false
export TRACKGATE__MALL__ENDPOINT=http://127.0.0.1:9310/push
export TRACKGATE__LOG__FILTER=error
export TRACKGATE__MALL__SIGNING_SECRET=whsec_c3Vic2NyaXB0aW9uLXJhdGUtbWVhc3VyZW1lbnQ=
token=$($BIN keys create --scope mall 2>/dev/null)
$BIN serve >/dev/null 2>&1 & gw=$!
trap 'kill $gw $fake 2>/dev/null; rm -rf $dir' EXIT
for i in $(seq 1 50); do curl -sf http://127.0.0.1:9311/readyz >/dev/null && break; sleep 0.2; done
start=$(date +%s.%N)
python3 - "$token" <<'PY'
import json, sys, urllib.request
token = sys.argv[1]
for b in range(10):
    items = [{"carrier": "kuaidi100", "tracking_number": "SF14%011d" % (b * 1000 + i)} for i in range(1000)]
    req = urllib.request.Request("http://127.0.0.1:9311/v1/shipments/batch", data=json.dumps({"shipments": items}).encode(),
        headers={"authorization": "Bearer " + token, "content-type": "application/json"})
    out = json.load(urllib.request.urlopen(req, timeout=300))
    assert all(r["status"] == 201 for r in out["results"]), out["results"][:2]
PY
registered=$(date +%s.%N)
while true; do
  s=$(curl -s http://127.0.0.1:9310/stats)
  n=$(echo "$s" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
  [ "$n" -ge 10000 ] && break
  sleep 1
done
done_at=$(date +%s.%N)
echo "registered 10,000 in $(echo "$registered - $start" | bc) s; all subscribed $(echo "$done_at - $start" | bc) s after the first batch"
echo "fake carrier: $s"
sleep 3; echo "after 3 s more: $(curl -s http://127.0.0.1:9310/stats)"
