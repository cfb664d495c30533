#!/usr/bin/env bash
# Keep a long study running across sessions on machines that have only what landed on main (issue #25).
#
#   studies/keep_running.sh STUDY_FILE COMMIT [WORKERS]
#
# 1. a git worktree of COMMIT (the study's fixed code) beside this checkout, ../study-wt;
# 2. the finished runs committed under studies/results/<study>/runs/ restored into its study folder;
# 3. `gtg study run` there in the background (WORKERS processes, default 2), with that worktree's package;
# 4. every 5 minutes, when a run has finished: every finished run folder archived (no models) under
#    studies/results/<study>/runs/ with the small tables (results.csv, histories.csv, provenance.json, the study
#    file), and a commit of that folder alone on main. The per-click tables (traces, test traces) are
#    collected once, when the study is complete: committed after every run they would fill the history.
# WATCH_ONLY=1: do not start a runner (one is running already), only archive and commit.
# The runs record COMMIT (clean); the collecting and the commits use this checkout's code.
set -euo pipefail
file=${1:?study file}; commit=${2:?the study\'s fixed commit}; workers=${3:-2}
here=$(cd "$(dirname "$0")/.." && pwd); cd "$here"
name=$(.venv/bin/python -c "import sys; from gtg_core.study import load_study; print(load_study(sys.argv[1]).name)" "$file")
tree=$(cd .. && pwd)/study-wt
root=$tree/.study/$name
results=studies/results/$name
[ -d "$tree" ] || git worktree add --detach "$tree" "$commit"
[ "$(git -C "$tree" rev-parse HEAD)" = "$(git rev-parse "$commit")" ] || { echo "$tree is not at $commit" >&2; exit 1; }
[ -z "$(git -C "$tree" status --porcelain -- gtg_core)" ] || { echo "$tree has uncommitted changes in gtg_core" >&2; exit 1; }
mkdir -p "$root"
if [ -d "$results/runs" ]; then .venv/bin/gtg study restore "$results" --root "$root"; fi
cp "$file" "$tree/.study/$name.yml"  # the study file as this session runs it (the worktree's may be older)
if [ "${WATCH_ONLY:-0}" = 1 ]; then
  runner=$(pgrep -f "gtg study run.*$name" | head -1)
  [ -n "$runner" ] || { echo "WATCH_ONLY: no runner of $root" >&2; exit 1; }
else
  PYTHONPATH=$tree nohup "$here/.venv/bin/gtg" study run "$tree/.study/$name.yml" --root "$root" \
    --executor "local:$workers" --quiet > "$tree/.study/$name-run.log" 2>&1 &
  runner=$!
fi
echo "runner $runner: $name at $commit in $root"
tables=$(mktemp -d)
while :; do
  alive=1; kill -0 "$runner" 2>/dev/null || alive=0
  .venv/bin/gtg study collect "$root" --out "$tables" --study "$file" --runs > /dev/null
  mkdir -p "$results"
  cp -r "$tables/runs" "$results/" 2>/dev/null || true
  cp "$tables"/{results.csv,histories.csv,provenance.json,study.yml} "$results/" 2>/dev/null || true
  if [ -n "$(git status --porcelain -- "$results/runs")" ]; then
    done=$(find "$results/runs" -name '*.tar.gz' | wc -l)
    git add -- "$results"
    git commit -q -m "$name: $done finished runs as measured (gtg study run at ${commit:0:7}, collected with --runs)" -- "$results" \
      || echo "commit failed (will retry)" >&2
  fi
  [ "$alive" = 1 ] || break
  sleep 300
done
echo "runner $runner ended"
