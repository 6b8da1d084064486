#!/usr/bin/env bash
# Runs every test of the solution on this machine, from a fresh clone: installs what the tests need, installs the
# models from the mirror (../shared/models), starts the servers the tests use, runs `dotnet test`, and closes with
# a line "N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

bash scripts/setup-machine.sh || { echo "test.sh: machine set-up failed"; exit 2; }
# --optional: tests compare the default (fine-tuned) detector with the stock one, which users install only on request.
bash models/install.sh --optional || { echo "test.sh: model installation failed"; exit 2; }

# PostgreSQL for the dashboard's store tests: a loopback-only server with a known password.
source scripts/start-postgres.sh || { echo "test.sh: PostgreSQL did not start"; exit 2; }

# The dashboard image cannot be built here (no Docker engine): publish it for both of its runtimes instead.
bash scripts/publish-dashboard.sh "$root/artifacts/publish" || { echo "test.sh: the dashboard does not publish for linux-x64/linux-arm64"; exit 2; }

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
log="$results/dotnet-test.log"
dotnet test EdgeMask.sln --logger "trx" --results-directory "$results" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Totals from each test assembly's summary line ("Passed!  - Failed: 0, Passed: 33, Skipped: 0, ...").
read -r passed failed skipped < <(grep -E '^(Passed|Failed)!' "$log" | sed -E 's/.*Failed: *([0-9]+), Passed: *([0-9]+), Skipped: *([0-9]+).*/\2 \1 \3/' \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; echo "test.sh: dotnet test exited $status (build error or crashed test host)"; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
