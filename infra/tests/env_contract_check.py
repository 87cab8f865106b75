#!/usr/bin/env python3
"""Keeps infra/terraform/ENV_CONTRACT.md and containers.tf in sync.

For every `scaleway_container` in containers.tf: its subcommand (`args`) and
the names in `environment_variables` / `secret_environment_variables` must be
exactly the ones listed for it in ENV_CONTRACT.md, with the same kind
(plain/secret), and no name may be both. Needs python-hcl2 (checkov ships
it, so check.sh runs this with checkov's Python).

Usage: env_contract_check.py [TERRAFORM_DIR]
"""
import os
import re
import sys

import hcl2

tf_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "terraform")
errors = []


def unwrap(value):
    # python-hcl2 wraps block attributes in one-element lists in some versions.
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


with open(os.path.join(tf_dir, "containers.tf")) as f:
    parsed = hcl2.load(f)

hcl = {}
for block in parsed.get("resource", []):
    for rtype, instances in block.items():
        if rtype != "scaleway_container":
            continue
        for name, body in instances.items():
            args = unwrap(body.get("args")) or []
            if isinstance(args, str):
                args = [args]
            plain = unwrap(body.get("environment_variables")) or {}
            secret = unwrap(body.get("secret_environment_variables")) or {}
            if not isinstance(plain, dict) or not isinstance(secret, dict):
                errors.append(f"scaleway_container.{name}: environment maps must be literal objects")
                continue
            hcl[name] = {"args": list(args), "plain": set(plain), "secret": set(secret)}

doc = {}
current = None
header = re.compile(r"^## `agentops ([a-z-]+)` — resource `scaleway_container\.([a-z_]+)`")
row = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*(plain|secret)\s*\|")
with open(os.path.join(tf_dir, "ENV_CONTRACT.md")) as f:
    for line in f:
        m = header.match(line)
        if m:
            current = m.group(2)
            doc[current] = {"command": m.group(1), "plain": set(), "secret": set()}
            continue
        if line.startswith("## "):
            current = None
            continue
        m = row.match(line)
        if m and current:
            doc[current][m.group(2)].add(m.group(1))

for name in sorted(set(hcl) | set(doc)):
    if name not in doc:
        errors.append(f"scaleway_container.{name} is not documented in ENV_CONTRACT.md")
        continue
    if name not in hcl:
        errors.append(f"ENV_CONTRACT.md documents scaleway_container.{name}, which containers.tf does not define")
        continue
    h, d = hcl[name], doc[name]
    if h["args"] != [d["command"]]:
        errors.append(f"scaleway_container.{name}: args {h['args']} != documented subcommand [{d['command']!r}]")
    both = h["plain"] & h["secret"]
    if both:
        errors.append(f"scaleway_container.{name}: {sorted(both)} are both plain and secret")
    for kind in ("plain", "secret"):
        missing = d[kind] - h[kind]
        extra = h[kind] - d[kind]
        if missing:
            errors.append(f"scaleway_container.{name}: documented {kind} {sorted(missing)} not set in containers.tf")
        if extra:
            errors.append(f"scaleway_container.{name}: {kind} {sorted(extra)} set in containers.tf but not documented")
    for var in h["plain"] | h["secret"]:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", var):
            errors.append(f"scaleway_container.{name}: bad variable name {var!r}")

if not hcl:
    errors.append("no scaleway_container found in containers.tf")

for e in errors:
    print(f"env contract: {e}")
if errors:
    sys.exit(1)
print(f"env contract: {len(hcl)} containers match ENV_CONTRACT.md")
