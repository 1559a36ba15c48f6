"""RBAC proven both ways, from the real API server's audit logs of the whole e2e run.

Every e2e cluster records, when it stops, each distinct request the operator's ServiceAccount
made (tests/support/cluster.py, Cluster.record_usage: verb, API group, resource, subresource,
namespace, name, answer code) into $AGENTPROXY_AUDIT_OUT. This check, run after the e2e tests
(CTest orders it), reads that file and the chart's rendered ClusterRole and Role, prints the
table of what was used under which grant, and fails when
  - the operator was refused (403) anything no rule grants: a grant the chart lacks; or
  - the chart grants a (verb, group, resource) that no request used, unless a comment line
    `# rbac-audit: WHY` stands right above the rule in charts/agentproxy/templates/rbac.yaml.
"""
import collections
import json
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "charts", "agentproxy")
NS = "agentproxy-system"
OPERATOR = f"system:serviceaccount:{NS}:agentproxy"
LIST_FIELD = re.compile(r"^\s*-?\s*(apiGroups|resources|verbs|resourceNames):\s*\[(.*)\]\s*$")


def rendered_rules():
    """[(kind, rule dict, why-unused or None)] of the chart's ClusterRole and Role, read from
    `helm template` (comments kept) so the check sees exactly what is installed."""
    text = subprocess.run(["helm", "template", "agentproxy", CHART, "-n", NS], check=True,
                          capture_output=True, text=True).stdout
    rules = []
    for document in text.split("\n---"):
        kind = re.search(r"^kind:\s*(\w+)", document, re.M)
        if not kind or kind.group(1) not in ("ClusterRole", "Role"):
            continue
        why, current = None, None
        for line in document.splitlines():
            stripped = line.strip()
            if stripped.startswith("# rbac-audit:"):
                why = stripped.split(":", 1)[1].strip()
                continue
            if why is not None and stripped.startswith("#"):  # the reason goes on
                why += " " + stripped.lstrip("#").strip()
                continue
            match = LIST_FIELD.match(line)
            if not match:
                continue
            if stripped.startswith("- "):
                current = {"why": why}
                rules.append((kind.group(1), current))
                why = None
            values = [v.strip().strip("'\"") for v in match.group(2).split(",") if v.strip()]
            current[match.group(1)] = values
    return rules


def grant_keys(rule):
    """(verb, group, resource/subresource) tuples a rule grants."""
    return {(verb, group, resource) for verb in rule["verbs"] for group in rule["apiGroups"]
            for resource in rule["resources"]}


def covers(kind, rule, request):
    resource = request["resource"] + ("/" + request["subresource"] if request["subresource"]
                                      else "")
    if (request["verb"], request["group"], resource) not in grant_keys(rule):
        return False
    if kind == "Role" and request["namespace"] != NS:
        return False
    names = rule.get("resourceNames")
    return not names or request["name"] in names


def load_usage(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class RbacAuditTest(unittest.TestCase):
    def test_the_chart_grants_exactly_what_the_operator_uses(self):
        path = os.environ.get("AGENTPROXY_AUDIT_OUT", "")
        self.assertTrue(path and os.path.exists(path),
                        f"no audit data at {path!r}: run the e2e tests first (CTest orders them)")
        usage = [u for u in load_usage(path) if u["user"] == OPERATOR]
        self.assertTrue(usage, "the e2e run recorded no request of the operator")
        rules = rendered_rules()
        self.assertTrue(rules, "no rules found in the chart's ClusterRole and Role")

        # A 403 for a request a rule grants is the real server's moment just after a restart,
        # before its RBAC authorizer has read the roles (the fault tests restart it); a 403
        # that no rule would grant is a grant the chart lacks.
        refused = sorted({(u["verb"], u["group"], u["resource"], u["subresource"],
                           u["namespace"]) for u in usage if u["code"] == 403 and
                          not any(covers(kind, rule, u) for kind, rule in rules)})
        used_by_rule = collections.defaultdict(set)
        table = collections.defaultdict(lambda: collections.Counter())
        for u in usage:
            resource = u["resource"] + ("/" + u["subresource"] if u["subresource"] else "")
            scope = "namespaced" if u["namespace"] else "cluster"
            if u["namespace"] and u["namespace"] != NS:
                scope = "other namespaces"
            grants = [i for i, (kind, rule) in enumerate(rules) if covers(kind, rule, u)]
            for i in grants:
                kind, rule = rules[i]
                verb_resource = (u["verb"], u["group"], resource)
                if verb_resource in grant_keys(rule):
                    used_by_rule[i].add(verb_resource)
            key = (u["group"] or "core", resource, u["verb"], scope)
            table[key]["requests"] += 1
            table[key]["403"] += u["code"] == 403
            table[key]["grant"] = min(grants) + 1 if grants else 0

        print("\nRBAC used by the operator's ServiceAccount in the e2e run (audit log):",
              file=sys.stderr)
        print(f"{'group':<30} {'resource':<36} {'verb':<8} {'scope':<17} {'kinds':>5} "
              f"{'403':>4}  rule", file=sys.stderr)
        for (group, resource, verb, scope), counts in sorted(table.items()):
            print(f"{group:<30} {resource:<36} {verb:<8} {scope:<17} {counts['requests']:>5} "
                  f"{counts['403']:>4}  {counts['grant'] or '-'}", file=sys.stderr)

        unused = []
        print("\nThe chart's rules:", file=sys.stderr)
        for i, (kind, rule) in enumerate(rules):
            never = sorted(grant_keys(rule) - used_by_rule[i])
            label = f"{i + 1}. {kind} {rule['apiGroups']} {rule['resources']} {rule['verbs']}"
            if rule.get("resourceNames"):
                label += f" names {rule['resourceNames']}"
            print(f"  {label}", file=sys.stderr)
            if never:
                print(f"     never used: {never}" + (f"  (why: {rule['why']})" if rule["why"]
                                                       else ""), file=sys.stderr)
                if not rule["why"]:
                    unused.append((label, never))
        self.assertEqual(refused, [], "the operator was refused these: the chart lacks a grant")
        self.assertEqual(unused, [], "granted but never used in the e2e run, and no "
                         "'# rbac-audit: WHY' comment above the rule")


if __name__ == "__main__":
    unittest.main()
