#!/bin/sh
# Checks the lab's Prometheus rules (docs/observability.md) with Debian's promtool:
#   1. promtool check rules rules.yml (syntax, PromQL, templates);
#   2. promtool test rules on rules_test.yml and rules_test_slow.yml (synthetic series);
#   3. coverage: every alert of rules.yml has a test where it fires (exp_alerts not empty) and,
#      at a later time, one where it has cleared (exp_alerts empty).
# The ctest prometheus_rules runs it (about 40 s, one core).
set -eu
cd "$(dirname "$0")"
promtool check rules rules.yml
promtool test rules rules_test.yml rules_test_slow.yml
python3 - rules.yml rules_test.yml rules_test_slow.yml <<'PY'
import sys, yaml

def seconds(d):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total, num = 0, ""
    for ch in str(d):
        if ch.isdigit():
            num += ch
        else:
            total, num = total + int(num) * units[ch], ""
    return total

rules = yaml.safe_load(open(sys.argv[1]))
alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
fired, cleared = {}, {}
for path in sys.argv[2:]:
    for test in yaml.safe_load(open(path))["tests"]:
        for case in test.get("alert_rule_test", []):
            name, at = case["alertname"], seconds(case["eval_time"])
            if case.get("exp_alerts"):
                fired.setdefault(name, []).append(at)
            else:
                cleared.setdefault(name, []).append(at)
bad = [a for a in alerts
       if not fired.get(a) or not any(c > min(fired[a]) for c in cleared.get(a, []))]
unknown = sorted((set(fired) | set(cleared)) - set(alerts))
if bad or unknown:
    for a in bad:
        print(f"alert {a}: no test where it fires and later clears", file=sys.stderr)
    for a in unknown:
        print(f"tested alert {a} is not in rules.yml", file=sys.stderr)
    sys.exit(1)
print(f"coverage: each of the {len(alerts)} alerts fires and clears in a test")
PY
