# A fake Kuaidi100 for scripts/subscription-rate.sh: POST /poll answers "subscribed"; GET returns
# how many arrived, how many distinct numbers, and the most in any one second.
import json, sys, time, threading, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
times = []
numbers = []
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        param = json.loads(urllib.parse.parse_qs(body.decode())['param'][0])
        with lock:
            times.append(time.monotonic()); numbers.append(param['number'])
        out = json.dumps({"result": True, "returnCode": "200", "message": "ok"}).encode()
        self.send_response(200); self.send_header('content-type','application/json')
        self.send_header('content-length', str(len(out))); self.end_headers(); self.wfile.write(out)
    def do_GET(self):
        with lock:
            t = sorted(times)
        worst = 0; j = 0
        for i in range(len(t)):
            while t[i] - t[j] >= 1.0: j += 1
            worst = max(worst, i - j + 1)
        out = json.dumps({"requests": len(t), "distinct": len(set(numbers)), "max_in_any_second": worst,
                          "span_s": (t[-1]-t[0]) if t else 0}).encode()
        self.send_response(200); self.send_header('content-length', str(len(out))); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
