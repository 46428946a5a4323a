#!/usr/bin/env bash
# Smoke test of the control-plane binaries built by build.py, on loopback only:
# starts etcd and kube-apiserver in a temporary directory, waits for /readyz,
# runs kubectl against it, checks kstatus and luahealth, then stops everything.
#
# Usage: bash tools/controlplane/smoke.sh [BIN_DIR]
#   BIN_DIR defaults to the directory `build.py --print-dir` names.
# Needs: openssl, curl, python3. Exit 0 when every check passed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$(python3 "$here/build.py" --print-dir)}"
for b in etcd kube-apiserver kubectl kstatus luahealth; do
  [[ -x "$bin/$b" ]] || { echo "smoke: $bin/$b missing; run build.py first" >&2; exit 2; }
done

work="$(mktemp -d -t drs-controlplane-XXXXXX)"
pids=()
# Stop kube-apiserver BEFORE etcd: a kube-apiserver whose etcd is gone ignores
# SIGTERM for minutes (seen: >9 min), so give it 15 s and then SIGKILL.
stop() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local i
  for ((i=${#pids[@]}-1; i>=0; i--)); do stop "${pids[i]}"; done
  if [[ "${KEEP:-}" == 1 ]]; then echo "smoke: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { python3 -c 'import time; print(time.monotonic())'; }

etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"
etcd_url="http://127.0.0.1:$etcd_port"

# --- keys: a CA for client certificates and the service-account key pair.
# The serving certificate is the one kube-apiserver generates in --cert-dir
# (self-signed for 127.0.0.1 and localhost); clients trust certs/apiserver.crt.
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 \
  -subj "/CN=drs-operator-test-ca" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
openssl pkey -in sa.key -pubout -out sa.pub
token="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
echo "$token,admin,admin,\"system:masters\"" > tokens.csv

# --- etcd
t0="$(now)"
"$bin/etcd" \
  --data-dir="$work/etcd" \
  --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync=true \
  > etcd.log 2>&1 &
pids+=($!)

# --- kube-apiserver
"$bin/kube-apiserver" \
  --etcd-servers="$etcd_url" \
  --cert-dir="$work/certs" \
  --secure-port="$api_port" --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --service-cluster-ip-range=10.0.0.0/24 \
  --allow-privileged=true \
  --disable-admission-plugins=ServiceAccount \
  --authorization-mode=RBAC \
  --service-account-issuer="https://127.0.0.1:$api_port/" \
  --service-account-key-file="$work/sa.pub" \
  --service-account-signing-key-file="$work/sa.key" \
  --client-ca-file="$work/ca.crt" \
  --token-auth-file="$work/tokens.csv" \
  > apiserver.log 2>&1 &
pids+=($!)

server="https://127.0.0.1:$api_port"
ready=""
for _ in $(seq 1 600); do
  if curl -skf -H "Authorization: Bearer $token" "$server/readyz" >/dev/null 2>&1; then
    ready=1; break
  fi
  kill -0 "${pids[1]}" 2>/dev/null || break
  sleep 0.1
done
t1="$(now)"
if [[ -z "$ready" ]]; then
  echo "smoke: apiserver not ready; last log lines:" >&2
  tail -n 30 apiserver.log >&2; tail -n 10 etcd.log >&2
  exit 1
fi
python3 -c "print(f'smoke: /readyz after {$t1 - $t0:.2f}s (etcd + apiserver start)')"

python3 -c "import os; print('smoke: kube-apiserver RSS', int(open('/proc/${pids[1]}/status').read().split('VmRSS:')[1].split()[0])//1024, 'MiB')"

kc=("$bin/kubectl" --server="$server" --token="$token" --certificate-authority="$work/certs/apiserver.crt")
"${kc[@]}" get ns
"${kc[@]}" version
"${kc[@]}" auth whoami -o jsonpath='{.status.userInfo.username}{" "}{.status.userInfo.groups}{"\n"}'
"$bin/kubectl" --server="$server" --token="$token" --insecure-skip-tls-verify get --raw '/readyz?verbose' | tail -n 1
# A ServiceAccount token from the TokenRequest API authenticates as the SA.
"${kc[@]}" create serviceaccount smoke -n default
sa_token="$("${kc[@]}" create token smoke -n default --duration=10m)"
"$bin/kubectl" --server="$server" --token="$sa_token" --certificate-authority="$work/certs/apiserver.crt" \
  auth whoami -o jsonpath='{.status.userInfo.username}{"\n"}'

# kstatus / luahealth
out="$(echo '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}' | "$bin/kstatus")"
echo "kstatus: $out"
[[ "$out" == *'"status":"Current"'* ]]
printf 'hs = {}\nhs.status = "Healthy"\nhs.message = obj.metadata.name\nreturn hs\n' > h.lua
out="$(echo '{"metadata":{"name":"x"}}' | "$bin/luahealth" h.lua)"
echo "luahealth: $out"
[[ "$out" == '{"name":"x","status":"Healthy","message":"x"}' ]]
echo "smoke: ok"
