#!/usr/bin/env bash
# Acceptance check for resumable apply, run from outside: a 2,000-user tenant served by a
# standalone graph-sim, `closeout apply` killed with SIGKILL at 20 random moments, then
# resumed with the same plain command (no flag: the kernel releases the lock of a killed
# apply) until it converges. Passes when the tenant is closed (only the kept administrator
# is left, the recycle bin is empty) and graph-sim's request log holds exactly one
# successful DELETE per user and one successful purge per user.
#
#   bash examples/acceptance/kill-and-resume.sh [USERS] [KILLS]
set -euo pipefail
USERS=${1:-2000}
KILLS=${2:-20}
cd "$(dirname "$0")/../.."
cargo build -q --workspace
BIN=$PWD/target/debug
WORK=$(mktemp -d)
trap 'kill $SIM 2>/dev/null || true' EXIT

"$BIN/graph-sim" generate --users "$USERS" -o "$WORK/tenant.yaml" >/dev/null
ADMIN=$(grep -m1 -o 'admin@[a-z0-9.]*' "$WORK/tenant.yaml")
"$BIN/graph-sim" serve "$WORK/tenant.yaml" --log "$WORK/requests.jsonl" >"$WORK/sim.out" &
SIM=$!
until grep -q listening "$WORK/sim.out" 2>/dev/null; do kill -0 "$SIM" || { echo "graph-sim did not start"; exit 1; }; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$WORK/sim.out")
CLOSEOUT_ACCESS_TOKEN=$("$BIN/graph-sim" token --all)  # unsigned; only graph-sim accepts it
export CLOSEOUT_ACCESS_TOKEN CLOSEOUT_STATE_DIR=$WORK/state

"$BIN/closeout" plan --graph-url "$URL" --keep "$ADMIN" -o "$WORK/plan.yaml" | grep '^Plan:'
killed=0
for i in $(seq "$KILLS"); do
  "$BIN/closeout" apply "$WORK/plan.yaml" --graph-url "$URL" --auto-approve \
    >"$WORK/run$i.out" 2>&1 &
  pid=$!
  # A random moment of the writing: wait for this run's first write, then 0-0.04 s more.
  before=$(grep -c '"method":"DELETE"' "$WORK/requests.jsonl" || true)
  while kill -0 "$pid" 2>/dev/null &&
    [ "$(grep -c '"method":"DELETE"' "$WORK/requests.jsonl" || true)" = "$before" ]; do
    sleep 0.02
  done
  sleep "0.0$((RANDOM % 5))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
done
echo "SIGKILLed $killed of $KILLS runs"
set +e
"$BIN/closeout" apply "$WORK/plan.yaml" --graph-url "$URL" --auto-approve >"$WORK/final.out" 2>&1
code=$?
set -e
grep -E '^(Apply|Resumed|.*uncertain)' "$WORK/final.out" || true
echo "runs recorded in the journal: $(cat "$WORK"/state/journals/*/*.jsonl | grep -c '"event":"start"')"
echo "final apply exit code: $code (3 = only the manual tenant deletion is left)"

python3 - "$WORK/requests.jsonl" "$USERS" <<'PY'
import collections, json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
users = int(sys.argv[2]) - 1   # all but the kept administrator
dels = collections.Counter(e["path"] for e in log
                           if e["method"] == "DELETE" and e["status"] == 204 and e["path"].startswith("/v1.0/users/"))
ids = {p.rsplit("/", 1)[1] for p in dels}
purges = collections.Counter(e["path"] for e in log
                             if e["method"] == "DELETE" and e["status"] == 204
                             and e["path"].startswith("/v1.0/directory/deletedItems/")
                             and e["path"].rsplit("/", 1)[1] in ids)
other = [e for e in log if e["method"] == "DELETE" and e["status"] != 204]
print(f"{len(log)} requests; users deleted: {len(dels)}, purged: {len(purges)}; "
      f"max successful deletes per user: {max(dels.values())}, per purge: {max(purges.values())}; "
      f"DELETEs without effect: {len(other)}")
assert len(dels) == users and set(dels.values()) == {1}, "exactly one successful delete per user"
assert len(purges) == users and set(purges.values()) == {1}, "exactly one successful purge per user"
PY
curl -s "$URL/_sim/snapshot" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("users left:", len(s["users"]), "in recycle bin:", len(s["deletedUsers"])); assert len(s["users"]) == 1 and not s["deletedUsers"]'
[ "$code" = 3 ] && echo "PASS"
