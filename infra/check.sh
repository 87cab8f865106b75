#!/usr/bin/env bash
# Offline checks of the infrastructure code (no cloud account, no provider
# download):
#   1. terraform fmt -check -recursive infra/ (when terraform is installed)
#   2. checkov on infra/terraform with our policies (infra/policies/*.yaml) and
#      the built-in ones: no failure, and every custom policy passes somewhere
#   3. every custom policy fails on its bad fixture (infra/policies/tests/bad/<ID>_*.tf),
#      so a policy that cannot fail is caught
#   4. the real configuration with a secret moved to a plain variable fails
#   5. ENV_CONTRACT.md matches containers.tf
#   6. shellcheck of the scripts and hadolint of the Dockerfile (when installed)
#   7. infra/tests/deploy_test.sh and infra/tests/restore_test.sh
# checkov is installed into ${XDG_CACHE_HOME:-~/.cache}/agentops/checkov-venv
# on first use (pip; CHECKOV_VERSION pins it). Exits non-zero on any failure.
set -uo pipefail

INFRA=$(cd "$(dirname "$0")" && pwd)
CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/agentops/checkov-venv"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agentops-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

STEPS_OK=()
STEPS_FAILED=()
ok() { STEPS_OK+=("$1"); echo "check: ok   - $1"; }
ko() { STEPS_FAILED+=("$1"); echo "check: FAIL - $1"; }
skip() { echo "check: skip - $1"; }

# --- 1. terraform fmt -----------------------------------------------------------------
if command -v terraform >/dev/null 2>&1; then
  if terraform fmt -check -recursive -diff "$INFRA" >"$WORK/fmt.out" 2>"$WORK/fmt.err"; then
    ok "terraform fmt -check -recursive infra/"
  else
    cat "$WORK/fmt.out" "$WORK/fmt.err"
    ko "terraform fmt -check -recursive infra/ (run: terraform fmt -recursive infra/)"
  fi
else
  skip "terraform fmt (terraform not installed)"
fi

# --- checkov, installed on demand ----------------------------------------------------
checkov_ready() {
  [ -x "$VENV/bin/checkov" ] && [ "$("$VENV/bin/checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]
}
install_checkov() {
  checkov_ready && return 0
  echo "check: installing checkov $CHECKOV_VERSION into $VENV"
  rm -rf "$VENV"
  if ! { python3 -m venv "$VENV" &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"; } >&2; then
    rm -rf "$VENV"
    return 1
  fi
}
if ! checkov_ready; then
  mkdir -p "$(dirname "$VENV")"
  if command -v flock >/dev/null 2>&1; then
    # Two checks starting together must not install into the same venv.
    (flock 9 && install_checkov) 9>"$VENV.lock"
  else
    install_checkov
  fi
fi
CHECKOV="$VENV/bin/checkov"
PY="$VENV/bin/python"

# checkov_json DIR OUT [extra args]: JSON report of DIR into OUT (exit code ignored:
# the report is what we judge).
checkov_json() {
  local dir=$1 out=$2
  shift 2
  "$CHECKOV" --directory "$dir" --framework terraform --skip-download \
    --external-checks-dir "$INFRA/policies" --output json "$@" >"$out" 2>"$out.err"
  if ! "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null; then
    cat "$out.err" >&2
    return 1
  fi
}

# Policies guarding resource types the configuration does not use (yet): they
# must fail on their fixture, but need not pass anywhere in infra/terraform.
# CKV2_AGENTOPS_4: no scaleway_object_bucket_policy today; adding a public one fails.
OPTIONAL_POLICIES="CKV2_AGENTOPS_4"

POLICY_IDS=$(sed -n 's/^[[:space:]]*id:[[:space:]]*"\{0,1\}\(CKV2_AGENTOPS_[0-9]*\)"\{0,1\}[[:space:]]*$/\1/p' "$INFRA"/policies/*.yaml | sort)

# Python helper reading checkov JSON reports.
cat >"$WORK/report.py" <<'EOF'
import json, os, sys

def load(path):
    data = json.load(open(path))
    reports = data if isinstance(data, list) else [data]
    failed, passed = [], []
    for r in reports:
        res = r.get("results", {})
        failed += res.get("failed_checks", [])
        passed += res.get("passed_checks", [])
    return failed, passed

mode, path = sys.argv[1], sys.argv[2]
ids = sys.argv[3].split()
optional = os.environ.get("OPTIONAL_POLICIES", "").split()
failed, passed = load(path)
problems = []
if mode == "good":
    for c in failed:
        problems.append(f"{c['check_id']} failed on {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})")
    for i in ids:
        if i not in optional and not any(c["check_id"] == i for c in passed):
            problems.append(f"{i} never passed on the real configuration (does it apply to anything?)")
elif mode == "bad":
    fixtures = sys.argv[4]
    for i in ids:
        files = [f for f in os.listdir(fixtures) if f.startswith(i + "_") and f.endswith(".tf")]
        if not files:
            problems.append(f"{i} has no bad fixture {fixtures}/{i}_*.tf")
            continue
        hits = [c for c in failed if c["check_id"] == i and os.path.basename(c["file_path"]) in files]
        if not hits:
            problems.append(f"{i} did not fail on its bad fixture {files[0]}: the policy cannot fail")
        else:
            print(f"  {i}: fails on {len(hits)} resource(s) of {files[0]}")
elif mode == "mutant":
    for i in ids:
        if not any(c["check_id"] == i for c in failed):
            problems.append(f"{i} did not fail on the mutated configuration")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF

if [ ! -x "$CHECKOV" ]; then
  ko "checkov $CHECKOV_VERSION could not be installed (pip install checkov into $VENV)"
elif [ -z "$POLICY_IDS" ]; then
  ko "no custom policy found in infra/policies/*.yaml"
else
  # --- 2. real configuration: no failure, every custom policy passes somewhere ------
  if checkov_json "$INFRA/terraform" "$WORK/good.json" &&
    OPTIONAL_POLICIES="$OPTIONAL_POLICIES" "$PY" "$WORK/report.py" good "$WORK/good.json" "$POLICY_IDS"; then
    ok "checkov on infra/terraform ($(echo "$POLICY_IDS" | wc -l) custom policies + built-in)"
  else
    ko "checkov on infra/terraform"
  fi

  # --- 3. every custom policy fails on its bad fixture ---------------------------------
  if checkov_json "$INFRA/policies/tests/bad" "$WORK/bad.json" --check "$(echo "$POLICY_IDS" | paste -sd, -)" &&
    "$PY" "$WORK/report.py" bad "$WORK/bad.json" "$POLICY_IDS" "$INFRA/policies/tests/bad"; then
    ok "every custom policy fails on its bad fixture"
  else
    ko "custom policies on bad fixtures"
  fi

  # --- 4. mutation: DATABASE_URL moved from secret to plain on the real config --------
  cp -r "$INFRA/terraform" "$WORK/mutant"
  rm -rf "$WORK/mutant/.terraform"
  "$PY" - "$WORK/mutant/containers.tf" <<'EOF'
import re, sys
path = sys.argv[1]
src = open(path).read()
line = re.search(r"^\s*DATABASE_URL\s*=.*\n", src, re.M).group(0)
src = src.replace(line, "", 1)
src = src.replace("environment_variables = {\n", "environment_variables = {\n" + line, 1)
open(path, "w").write(src)
EOF
  if checkov_json "$WORK/mutant" "$WORK/mutant.json" --check CKV2_AGENTOPS_9,CKV2_AGENTOPS_10 &&
    "$PY" "$WORK/report.py" mutant "$WORK/mutant.json" "CKV2_AGENTOPS_9 CKV2_AGENTOPS_10"; then
    ok "a secret moved to a plain variable in containers.tf is caught"
  else
    ko "mutation test (secret in plain environment_variables)"
  fi

  # --- 5. ENV_CONTRACT.md <-> containers.tf -----------------------------------------
  if "$PY" "$INFRA/tests/env_contract_check.py" "$INFRA/terraform"; then
    ok "ENV_CONTRACT.md matches containers.tf"
  else
    ko "ENV_CONTRACT.md matches containers.tf"
  fi
fi

# --- 6. linters, when installed -------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck "$INFRA"/*.sh "$INFRA"/scripts/*.sh "$INFRA"/tests/*.sh; then
    ok "shellcheck"
  else
    ko "shellcheck"
  fi
else
  skip "shellcheck (not installed)"
fi
if command -v hadolint >/dev/null 2>&1 && [ -f "$INFRA/../Dockerfile" ]; then
  if hadolint "$INFRA/../Dockerfile"; then ok "hadolint Dockerfile"; else ko "hadolint Dockerfile"; fi
else
  skip "hadolint (not installed)"
fi

# --- 7. script tests ------------------------------------------------------------------
for t in deploy_test.sh restore_test.sh; do
  echo "check: running infra/tests/$t"
  if bash "$INFRA/tests/$t"; then
    ok "infra/tests/$t"
  else
    ko "infra/tests/$t"
  fi
done

echo "${#STEPS_OK[@]} passed, ${#STEPS_FAILED[@]} failed"
[ "${#STEPS_FAILED[@]}" -eq 0 ]
