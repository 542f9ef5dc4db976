#!/usr/bin/env bash
# How closeout's cost grows with the tenant: for each size, a graph-sim tenant is generated
# and served standalone, then `closeout plan -o`, `closeout show` (text, JSON, Markdown),
# `sha256sum` of the same plan file (the yardstick of the show target), a drift check
# (`closeout status`, which reads the tenant and compares it with the plan) and `closeout
# apply` of the plan (with SCALE_APPLY=1; paced at Graph's quotas, minutes per 10,000
# users) run one after the other, each under `/usr/bin/time -v` for wall time and peak
# resident memory. Prints a table, then the ratios between sizes.
#
#   bench/scale.sh                    # 10,000, 30,000 and 100,000 users
#   bench/scale.sh 2000 5000          # other sizes
#   SCALE_NO_BUILD=1 bench/scale.sh   # use the release binaries already in target/release
#   CLOSEOUT=/path/to/old/closeout SCALE_NO_BUILD=1 bench/scale.sh   # another build
#   SCALE_APPLY=1 bench/scale.sh 10000   # also apply each plan (about 15 minutes at 10,000)
#   SCALE_APPLY=1 SCALE_TIME_SCALE=100 bench/scale.sh 10000 100000   # Graph's quotas 100x
#                                     # faster in graph-sim and closeout's pacer: apply's
#                                     # memory in minutes (its time is then not Graph's)
#
# Needs GNU time (/usr/bin/time) and coreutils' sha256sum. Release build first (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 30000 100000)

if [ -z "${SCALE_NO_BUILD:-}" ]; then
  echo "== cargo build --release (closeout, graph-sim)" >&2
  cargo build --release --workspace --bins --quiet
fi
CLOSEOUT=${CLOSEOUT:-$PWD/target/release/closeout}
SIM=${GRAPH_SIM:-$PWD/target/release/graph-sim}
[ -x /usr/bin/time ] || { echo "bench/scale.sh needs GNU time at /usr/bin/time" >&2; exit 1; }

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# measure NAME CMD...: runs CMD (stdout discarded), appends "NAME seconds peak_kB" to $work/rows.
# Exit code 3 (apply waits on manual actions) counts as success: the plans hold manual actions.
measure() {
  local name=$1
  shift
  local rc=0
  /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || rc=$?
  if [ "$rc" -ne 0 ] && { [ "$name" != apply ] || [ "$rc" -ne 3 ]; }; then
    echo "$name failed (exit $rc):" >&2
    cat "$work/stderr.txt" "$work/time.txt" >&2
    exit 1
  fi
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt" |
    awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  echo "$name $wall $rss" >>"$work/rows"
  awk -v n="$name" -v w="$wall" -v r="$rss" 'BEGIN { printf "  %-16s %8.2f s %8.1f MB\n", n, w, r / 1024 }' >&2
}

TOKEN=$("$SIM" token --all)
export CLOSEOUT_ACCESS_TOKEN=$TOKEN
for n in "${sizes[@]}"; do
  echo "== $n users" >&2
  d=$work/$n
  mkdir -p "$d"
  "$SIM" generate --users "$n" --seed 7 -o "$d/tenant.yaml" >/dev/null
  "$SIM" serve "$d/tenant.yaml" --port 0 --time-scale "${SCALE_TIME_SCALE:-1}" --log "$d/requests.jsonl" >"$d/serve.out" 2>"$d/serve.err" &
  server=$!
  for _ in $(seq 600); do
    grep -q '^graph-sim listening on ' "$d/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n "s/^graph-sim listening on //p" "$d/serve.out")
  plan=$d/tenant.plan.yaml
  keep=admin@simtenant7.onmicrosoft.com
  : >"$work/rows"
  measure plan "$CLOSEOUT" plan --graph-url "$url" --keep "$keep" -o "$plan" --no-color
  reads=$(wc -l <"$d/requests.jsonl")
  measure sha256sum sha256sum "$plan"
  measure show "$CLOSEOUT" show "$plan" --no-color
  measure show-json "$CLOSEOUT" show "$plan" --format json
  measure show-markdown "$CLOSEOUT" show "$plan" --format markdown
  measure sha256sum-2 sha256sum "$plan"
  measure drift-check "$CLOSEOUT" status "$plan" --graph-url "$url"
  # SCALE_APPLY=1: apply last (it empties the tenant). closeout paces its writes at Graph's
  # quotas whatever the server does: about 15 minutes per 10,000 users.
  if [ -n "${SCALE_APPLY:-}" ]; then
    CLOSEOUT_STATE_DIR=$d/state measure apply "$CLOSEOUT" apply "$plan" --graph-url "$url" --auto-approve --no-color --pace-time-scale "${SCALE_TIME_SCALE:-1}"
  else
    echo "apply 0 0" >>"$work/rows"
  fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
  size=$(stat -c %s "$plan")
  awk -v n="$n" -v reads="$reads" -v size="$size" '{ t[$1] = $2; m[$1] = $3 }
    END {
      sha = (t["sha256sum"] < t["sha256sum-2"]) ? t["sha256sum"] : t["sha256sum-2"];
      if (sha < 0.01) sha = 0.01;
      printf "%s %d %d", n, reads, size;
      split("plan show show-json show-markdown drift-check apply", k, " ");
      for (i = 1; i <= 6; i++) printf " %s %s", t[k[i]], m[k[i]];
      printf " %s\n", sha;
    }' "$work/rows" >>"$work/table"
done

echo
echo "users    Graph reads (ceil(N/999))  plan file   plan s / MB     show s / MB     json s / MB     markdown s / MB  drift s / MB    apply s / MB    sha256sum s  show/sha  json/show  md/show"
awk '{
  n = $1; reads = $2; mb = $3 / 1e6;
  printf "%-8d %5d (%5d)              %6.1f MB  ", n, reads, int((n + 998) / 999), mb;
  for (i = 4; i <= 15; i += 2) printf "%6.2f %6.1f   ", $i, $(i + 1) / 1024;
  sha = $16;
  printf "%6.2f       %5.1fx    %5.2fx     %5.2fx\n", sha, $6 / sha, $8 / $6, $10 / $6;
}' "$work/table"
echo
echo "ratios between sizes (time, peak memory):"
awk 'NR == 1 { n0 = $1; for (i = 1; i <= NF; i++) f[i] = $i; next }
  {
    printf "  %d/%d users (x%.1f):", $1, n0, $1 / n0;
    split("plan show json markdown drift apply", k, " ");
    for (i = 4; i <= 15; i += 2) printf "  %s %.1fx / %.1fx", k[(i - 2) / 2], $i / (f[i] > 0 ? f[i] : 0.01), $(i + 1) / (f[i + 1] > 0 ? f[i + 1] : 1);
    printf "\n";
  }' "$work/table"
