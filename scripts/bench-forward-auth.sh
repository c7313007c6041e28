#!/usr/bin/env bash
# What forward auth costs behind nginx, in one run: wrk against nginx on
# 127.0.0.1 with the documented configuration (docs/proxies/nginx.conf.tmpl),
# for three requests to the same upstream:
#
#   no auth         nginx proxying to the upstream, no auth_request
#   session cookie  auth_request -> GET /v1/authz/auth-request, a session
#                   cookie looked up in SQLite (valet's default store)
#   bearer          the same with a token-mode access token (no store)
#
# The upstream is a server block of the same nginx that answers 200.
# Usage: scripts/bench-forward-auth.sh [DURATION [CONNECTIONS]]
# (default 5s and 16, with one wrk thread). Needs nginx, wrk, curl and Go.
# It prints a Markdown table for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-5s}"
conns="${2:-16}"
nginx_bin="${NGINX:-/usr/sbin/nginx}"
for tool in "$nginx_bin" wrk curl go; do
  command -v "$tool" >/dev/null || { echo "bench-forward-auth: $tool is missing (scripts/services.sh installs nginx)" >&2; exit 1; }
done

work="$(mktemp -d)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

go build -o "$work/valet" ./cmd/valet

proxy_port="$(free_port)"
app_port="$(free_port)"
app_host=app.example.localhost
auth_host=auth.example.localhost
password='a benchmark passphrase'

mkdir -p "$work/data"
echo "$password" | "$work/valet" user create --email bench@example.com --data-dir "$work/data" >/dev/null
"$work/valet" serve --addr 127.0.0.1:0 --data-dir "$work/data" --log-level warn \
  --trusted-proxies 127.0.0.1 --cookie-domain example.localhost \
  --public-url "http://$auth_host:$proxy_port" \
  --access-rule "$app_host/admin admin" >"$work/valet.out" 2>"$work/valet.err" &
pids+=($!)
valet_url=""
for _ in $(seq 1 200); do
  valet_url="$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/valet.out" | head -n 1)"
  [ -n "$valet_url" ] && break
  sleep 0.05
done
[ -n "$valet_url" ] || { echo "valet did not start:" >&2; cat "$work/valet.err" >&2; exit 1; }

login() {
  curl -sS -D "$work/headers.$1" -o "$work/body.$1" "$valet_url/v1/login" \
    -H 'content-type: application/json' \
    -d "{\"email\":\"bench@example.com\",\"password\":\"$password\",\"mode\":\"$1\"}"
}
login session
cookie="$(sed -n 's/^[Ss]et-[Cc]ookie: \(__Secure-valet_session=[^;]*\).*/\1/p' "$work/headers.session" | head -n 1)"
login token
token="$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body.token")"
[ -n "$cookie" ] && [ -n "$token" ] || { echo "login failed" >&2; exit 1; }

# The documented blocks, plus the upstream and a server without auth.
sed -e "s/{{\.Listen}}/127.0.0.1:$proxy_port/g" -e "s/{{\.AppHost}}/$app_host/g" \
  -e "s/{{\.AuthHost}}/$auth_host/g" -e "s#{{\.Valet}}#${valet_url#http://}#g" \
  -e "s/{{\.App}}/127.0.0.1:$app_port/g" docs/proxies/nginx.conf.tmpl >"$work/valet.conf"
cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    include $work/valet.conf;
    server {
        listen 127.0.0.1:$app_port;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$proxy_port;
        server_name noauth.example.localhost;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$nginx_bin" -e stderr -p "$work" -c "$work/nginx.conf" 2>"$work/nginx.err" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -s -o /dev/null -H "Host: noauth.example.localhost" "http://127.0.0.1:$proxy_port/" && break
  sleep 0.05
done

check() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$proxy_port/hello" "$@")"
  [ "$code" = 200 ] || { echo "a request through nginx answered $code" >&2; cat "$work/nginx.err" >&2; exit 1; }
}
check -H "Host: noauth.example.localhost"
check -H "Host: $app_host:$proxy_port" -H "Cookie: $cookie"
check -H "Host: $app_host:$proxy_port" -H "Authorization: Bearer $token"

# run NAME HEADER... : one wrk run; prints "name rps p50 p99".
run() {
  local name="$1"; shift
  local out
  out="$(wrk -t1 -c"$conns" -d"$duration" --latency "$@" "http://127.0.0.1:$proxy_port/hello")"
  if grep -q 'Non-2xx' <<<"$out"; then echo "$name: $(grep 'Non-2xx' <<<"$out")" >&2; exit 1; fi
  printf '%s\t%s\t%s\t%s\n' "$name" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}

results="$(
  run "no auth" -H "Host: noauth.example.localhost"
  run "session cookie (SQLite)" -H "Host: $app_host:$proxy_port" -H "Cookie: $cookie"
  run "bearer (token mode)" -H "Host: $app_host:$proxy_port" -H "Authorization: Bearer $token"
)"

echo "wrk -t1 -c$conns -d$duration, one nginx worker, $(nproc) CPUs shared by wrk, nginx and valet, $(go env GOVERSION), $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///')"
echo
echo "| request through nginx | req/s | × no auth | p50 | p99 |"
echo "| --- | --- | --- | --- | --- |"
base="$(head -n 1 <<<"$results" | cut -f2)"
while IFS=$'\t' read -r name rps p50 p99; do
  printf '| %s | %.0f | %.2f | %s | %s |\n' "$name" "$rps" "$(awk -v a="$rps" -v b="$base" 'BEGIN {print a / b}')" "$p50" "$p99"
done <<<"$results"
