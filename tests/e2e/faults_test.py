"""The operator under the faults a real cluster has, produced by the real parts: watches broken
by restarting kube-apiserver, 410 Gone after an etcd compaction, etcd restarted under a
running operator, and throttling by API Priority and Fairness. After each, the controller
converges on the latest spec and misses no change.
"""
import json
import os
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from cluster import wait_for  # noqa: E402
from installation import OPERATOR_USER, SERVICE_ACCOUNT, NS  # noqa: E402
from operator_test import OperatorTestCase, policy_yaml  # noqa: E402


class RestartsTest(OperatorTestCase):
    # An API server or etcd down for longer than the Lease's renew deadline makes the leader
    # step down and exit (so that Kubernetes restarts it as a follower): here, as the kubelet
    # would, the test restarts it.
    restart_operator = True

    def converged(self, name, proxy, classification, generation):
        status = self.wait_status(name, lambda s: s.get("classification") == classification and
                                  s.get("observedGeneration") == generation, timeout=60)
        self.assertEqual(status["targets"][0]["tunnel"],
                         "Established" if classification == "Supported" else "Refused")
        return status

    def test_watches_broken_by_an_apiserver_restart(self):
        lab = self.lab.env
        self.apply(policy_yaml("restart", lab["LAB_SQUID"], lab["LAB_TARGET"]))
        self.converged("restart", lab["LAB_SQUID"], "Supported", 1)
        self.server.restart("apiserver")
        # Changed at once, before the operator's watches are back.
        self.apply(policy_yaml("restart", lab["LAB_SQUID_DENY"], lab["LAB_TARGET"]))
        self.converged("restart", lab["LAB_SQUID_DENY"], "Unsupported", 2)

    def test_etcd_restarted_under_a_running_operator(self):
        lab = self.lab.env
        self.apply(policy_yaml("etcd", lab["LAB_SQUID"], lab["LAB_TARGET"]))
        self.converged("etcd", lab["LAB_SQUID"], "Supported", 1)
        self.server.stop_component("etcd")
        # The API server answers errors while etcd is away; the operator keeps retrying.
        self.server.start_component("etcd")
        wait_for(lambda: self.server.request("GET", "/readyz")[0] == 200, timeout=60,
                 what="the API server ready again")
        self.apply(policy_yaml("etcd", lab["LAB_SQUID_DENY"], lab["LAB_TARGET"]))
        self.converged("etcd", lab["LAB_SQUID_DENY"], "Unsupported", 2)
        # Whenever it exited, it was on purpose: leadership lost (1), never a crash.
        self.assertEqual([c for c in self.operator.exits if c != 1], [], self.operator.log())


class GoneTest(OperatorTestCase):
    """One replica without leader election, so that the API server's restarts cost it no Lease
    and the same process sees its watches answered 410 Gone and lists again."""
    leader_elect = False

    def operator_allowed(self):
        """True once the API server authorises the operator's ServiceAccount again: for a moment
        after a restart its RBAC authorizer has not read the roles and answers 403."""
        with open(self.installation.kubeconfig, encoding="utf-8") as handle:
            token = json.load(handle)["users"][0]["user"]["token"]
        status, _, _ = self.server.request(
            "GET", "/apis/agentproxy.io/v1alpha1/proxypolicies?limit=1",
            headers={"Authorization": f"Bearer {token}"}, client_certificate=False)
        return status == 200

    def test_gone_after_compaction_lists_again_and_misses_nothing(self):
        lab = self.lab.env
        self.apply(policy_yaml("gone", lab["LAB_SQUID"], lab["LAB_TARGET"]))
        RestartsTest.converged(self, "gone", lab["LAB_SQUID"], "Supported", 1)
        # The operator is frozen (SIGSTOP: a paused VM, a long GC pause) while the API server
        # restarts, the policies change and etcd is compacted. When it wakes, its watches are
        # broken and its resourceVersions older than anything the restarted server's watch
        # cache holds: 410 Gone, and a new list, which must bring both changes.
        self.operator.pause()
        try:
            self.server.restart("apiserver")
            wait_for(self.operator_allowed, timeout=60, interval=0.2,
                     what="RBAC answering for the operator after the restart")
            self.apply(policy_yaml("gone", lab["LAB_SQUID_DENY"], lab["LAB_TARGET"]))
            self.apply(policy_yaml("gone-new", lab["LAB_SQUID"], lab["LAB_TARGET"]))
            self.server.compact()
        finally:
            self.operator.resume()
        RestartsTest.converged(self, "gone", lab["LAB_SQUID_DENY"], "Unsupported", 2)
        RestartsTest.converged(self, "gone-new", lab["LAB_SQUID"], "Supported", 1)
        if "watch expired, listing again" not in self.operator.log():
            self.fail("no relist after 410 Gone; exits " + str(self.operator.exits) + "\n" +
                      "\n".join(l for l in self.operator.log().splitlines()
                                if "watch" in l or "lead" in l or "stopped" in l)[-5000:])


class ThrottlingTest(OperatorTestCase):
    """API Priority and Fairness gives the operator's ServiceAccount one seat and rejects the
    rest (429 with Retry-After), on a server with few seats in all."""
    apiserver_args = ("--max-requests-inflight=20", "--max-mutating-requests-inflight=10")

    def test_throttled_by_the_real_server_converges(self):
        self.server.apply({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "agentproxy-tiny"},
            "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": 1, "lendablePercent": 0, "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"}}}})
        self.server.apply({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
            "metadata": {"name": "agentproxy-tiny"},
            "spec": {"priorityLevelConfiguration": {"name": "agentproxy-tiny"},
                     "matchingPrecedence": 500, "distinguisherMethod": {"type": "ByUser"},
                     "rules": [{"subjects": [{"kind": "ServiceAccount", "serviceAccount": {
                         "name": SERVICE_ACCOUNT, "namespace": NS}}],
                                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"],
                                                   "resources": ["*"], "clusterScope": True,
                                                   "namespaces": ["*"]}],
                                "nonResourceRules": [{"verbs": ["*"],
                                                      "nonResourceURLs": ["*"]}]}]}})
        lab = self.lab.env
        names = [f"throttled-{i}" for i in range(20)]
        for name in names:
            self.apply(policy_yaml(name, lab["LAB_SQUID"], lab["LAB_TARGET"]))
        for name in names:
            self.wait_status(name, lambda s: s.get("classification") == "Supported", timeout=120)
        rejected = self.server.requests_by(
            OPERATOR_USER, lambda e: e.get("responseStatus", {}).get("code") == 429)
        self.assertGreater(len(rejected), 0, "the server never throttled the operator: the test"
                           " proves nothing")
        print(f"\nthe real server answered the operator 429 {len(rejected)} times",
              file=sys.stderr)
        self.assertIsNone(self.operator.process.poll(), "the operator exited")


if __name__ == "__main__":
    unittest.main()
