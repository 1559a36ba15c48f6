"""API semantics over raw HTTPS, where kubectl would hide the details: authentication,
resourceVersion/generation rules, conflicts, finalizers, selectors, pagination,
watches (resume, bookmarks, 410 after compaction), tables and fault injection."""
import os
import unittest

from harness import TESTDATA, ServerTestCase

PP = "/apis/agentproxy.io/v1alpha1/proxypolicies"
CM = "/api/v1/namespaces/default/configmaps"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def policy(name, **extra):
    obj = {"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
           "metadata": {"name": name}, "spec": {"proxy": {"httpsProxy": "http://p.example:3128"}}}
    obj.update(extra)
    return obj


def configmap(name, labels=None, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}


class SemanticsTest(ServerTestCase):
    server_args = ("--bookmark-interval", "0.2")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.kubectl("apply", "-f", os.path.join(TESTDATA, "proxypolicy-crd.yaml"))

    def status_of(self, method, path, body=None, **kwargs):
        status, decoded, _ = self.server.request(method, path, body, **kwargs)
        return status, decoded

    def test_discovery_aggregated_and_legacy_list_custom_resources(self):
        status, body, headers = self.server.request("GET", "/apis", accept=(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
            "application/json"))
        self.assertEqual((status, body["kind"]), (200, "APIGroupDiscoveryList"))
        self.assertIn("as=APIGroupDiscoveryList", headers["Content-Type"])
        group = next(g for g in body["items"] if g["metadata"].get("name") == "agentproxy.io")
        resource = group["versions"][0]["resources"][0]
        self.assertEqual((resource["resource"], resource["scope"], resource["shortNames"]),
                         ("proxypolicies", "Cluster", ["pp"]))
        legacy = self.server.ok("GET", "/apis/agentproxy.io/v1alpha1")
        self.assertEqual([r["name"] for r in legacy["resources"]],
                         ["proxypolicies", "proxypolicies/status"])
        groups = self.server.ok("GET", "/apis")
        self.assertEqual(groups["kind"], "APIGroupList")

    def test_requests_without_valid_token_get_401_status(self):
        status, body = self.status_of("GET", CM, token="wrong")
        self.assertEqual(status, 401)
        self.assertEqual((body["kind"], body["status"], body["reason"], body["code"]),
                         ("Status", "Failure", "Unauthorized", 401))

    def test_create_sets_metadata_and_duplicate_is_409_already_exists(self):
        created = self.server.ok("POST", PP, policy("meta", status={"injectedPods": 9}))
        meta = created["metadata"]
        self.assertTrue(meta["uid"] and meta["creationTimestamp"])
        self.assertEqual(meta["generation"], 1)
        self.assertIsInstance(meta["resourceVersion"], str)
        self.assertNotIn("status", created)   # status is dropped on create (status subresource)
        status, body = self.status_of("POST", PP, policy("meta"))
        self.assertEqual((status, body["reason"]), (409, "AlreadyExists"))
        self.assertEqual(body["message"], 'proxypolicies.agentproxy.io "meta" already exists')
        self.assertEqual(body["details"], {"name": "meta", "group": "agentproxy.io",
                                           "kind": "proxypolicies"})

    def test_missing_object_is_404_status(self):
        status, body = self.status_of("GET", f"{CM}/absent")
        self.assertEqual((status, body["reason"], body["message"]),
                         (404, "NotFound", 'configmaps "absent" not found'))

    def test_update_with_stale_resource_version_is_409_conflict(self):
        first = self.server.ok("POST", CM, configmap("stale", a="1"))
        first["data"]["a"] = "2"
        self.server.ok("PUT", f"{CM}/stale", first)
        first["data"]["a"] = "3"
        status, body = self.status_of("PUT", f"{CM}/stale", first)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        self.assertIn("the object has been modified", body["message"])

    def test_resource_versions_increase_and_no_op_update_keeps_them(self):
        one = self.server.ok("POST", CM, configmap("rv-a"))
        two = self.server.ok("POST", CM, configmap("rv-b"))
        self.assertGreater(int(two["metadata"]["resourceVersion"]),
                           int(one["metadata"]["resourceVersion"]))
        same = self.server.ok("PATCH", f"{CM}/rv-a", {"data": {}},
                              content_type="application/merge-patch+json")
        self.assertEqual(same["metadata"]["resourceVersion"], one["metadata"]["resourceVersion"])

    def test_generation_and_status_subresource_separation(self):
        self.server.ok("POST", PP, policy("gen"))
        merge = "application/merge-patch+json"
        main = self.server.ok("PATCH", f"{PP}/gen", {"status": {"injectedPods": 5}},
                              content_type=merge)
        self.assertNotIn("status", main)          # main resource ignores status
        status = self.server.ok("PATCH", f"{PP}/gen/status",
                                {"status": {"injectedPods": 5}, "spec": {"proxy": None}},
                                content_type=merge)
        self.assertEqual(status["status"]["injectedPods"], 5)
        self.assertEqual(status["spec"]["proxy"]["httpsProxy"], "http://p.example:3128")
        self.assertEqual(status["metadata"]["generation"], 1)
        labelled = self.server.ok("PATCH", f"{PP}/gen", {"metadata": {"labels": {"a": "b"}}},
                                  content_type=merge)
        self.assertEqual(labelled["metadata"]["generation"], 1)
        changed = self.server.ok("PATCH", f"{PP}/gen", [
            {"op": "add", "path": "/spec/proxy/noProxy", "value": [".svc"]}],
            content_type="application/json-patch+json")
        self.assertEqual(changed["metadata"]["generation"], 2)

    def test_schema_validation_is_422_with_causes(self):
        status, body = self.status_of("POST", PP, {
            "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
            "metadata": {"name": "invalid"}, "spec": {"proxy": {"httpsProxy": 3}}})
        self.assertEqual((status, body["reason"]), (422, "Invalid"))
        self.assertEqual(body["message"], 'ProxyPolicy.agentproxy.io "invalid" is invalid: '
                         'spec.proxy.httpsProxy: Invalid value: "integer": spec.proxy.httpsProxy '
                         'in body must be of type string: "integer"')
        self.assertEqual(body["details"]["causes"][0]["field"], "spec.proxy.httpsProxy")
        self.server.ok("POST", PP, policy("enum"))
        status, body = self.status_of("PATCH", f"{PP}/enum/status",
                                      {"status": {"classification": "Maybe"}},
                                      content_type="application/merge-patch+json")
        self.assertEqual(status, 422)
        self.assertIn('status.classification: Unsupported value: "Maybe": supported values: '
                      '"Supported", "Warn", "Unsupported", "Unknown"', body["message"])

    def test_validation_ratcheting_keeps_unchanged_values_that_a_newer_schema_rejects(self):
        crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        widgets = "/apis/ratchet.example/v1/widgets"
        spec = {"type": "object", "properties": {"size": {"type": "string", "maxLength": 10},
                                                 "note": {"type": "string"}}}
        self.server.ok("POST", crds, {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.ratchet.example"},
            "spec": {"group": "ratchet.example", "scope": "Cluster",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                         "openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}}]}})
        self.server.ok("POST", widgets, {"apiVersion": "ratchet.example/v1", "kind": "Widget",
                                         "metadata": {"name": "w"}, "spec": {"size": "12345678"}})
        crd = self.server.ok("GET", f"{crds}/widgets.ratchet.example")
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
            "properties"]["size"]["maxLength"] = 4
        self.server.ok("PUT", f"{crds}/widgets.ratchet.example", crd)
        # The stored size is now too long, but unchanged: the update is accepted.
        self.server.ok("PATCH", f"{widgets}/w", {"spec": {"note": "kept"}},
                       content_type="application/merge-patch+json")
        status, body = self.status_of("PATCH", f"{widgets}/w", {"spec": {"size": "123456789"}},
                                      content_type="application/merge-patch+json")
        self.assertEqual(status, 422)
        self.assertIn("spec.size: Too long: may not be more than 4 bytes", body["message"])

    def test_schema_defaults_are_applied(self):
        created = self.server.ok("POST", PP, policy("defaults", spec={
            "proxy": {"httpsProxy": "http://p:1"}, "injection": {}}))
        self.assertEqual(created["spec"]["injection"],
                         {"enabled": True, "overrideExisting": False})

    def test_finalizers_delay_deletion_until_emptied(self):
        self.server.ok("POST", PP, policy("final", metadata={"name": "final",
                                                             "finalizers": ["agentproxy.io/x"]}))
        deleted = self.server.ok("DELETE", f"{PP}/final")
        self.assertIn("deletionTimestamp", deleted["metadata"])
        still = self.server.ok("GET", f"{PP}/final")
        self.assertEqual(still["metadata"]["generation"], 2)
        status, body = self.status_of("PATCH", f"{PP}/final",
                                      {"metadata": {"finalizers": ["agentproxy.io/x", "new"]}},
                                      content_type="application/merge-patch+json")
        self.assertEqual(status, 422)
        self.server.ok("PATCH", f"{PP}/final", {"metadata": {"finalizers": None}},
                       content_type="application/merge-patch+json")
        self.assertEqual(self.status_of("GET", f"{PP}/final")[0], 404)

    def test_delete_returns_status_for_configmaps_and_object_for_custom_resources(self):
        self.server.ok("POST", CM, configmap("gone"))
        body = self.server.ok("DELETE", f"{CM}/gone?propagationPolicy=Background")
        self.assertEqual((body["kind"], body["status"], body["details"]["name"]),
                         ("Status", "Success", "gone"))
        self.server.ok("POST", PP, policy("gone"))
        body = self.server.ok("DELETE", f"{PP}/gone", {"propagationPolicy": "Foreground"})
        self.assertEqual(body["kind"], "ProxyPolicy")

    def test_label_and_field_selectors(self):
        for name, labels in (("sel-a", {"app": "x", "tier": "1"}), ("sel-b", {"app": "y"}),
                             ("sel-c", {"tier": "2"})):
            self.server.ok("POST", CM, configmap(name, labels))

        def names(query):
            items = self.server.ok("GET", f"{CM}?{query}")["items"]
            return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"]
                          .startswith("sel-"))
        self.assertEqual(names("labelSelector=app%3Dx"), ["sel-a"])
        self.assertEqual(names("labelSelector=app!%3Dx"), ["sel-b", "sel-c"])
        self.assertEqual(names("labelSelector=app+in+(x,y)"), ["sel-a", "sel-b"])
        self.assertEqual(names("labelSelector=app+notin+(x)"), ["sel-b", "sel-c"])
        self.assertEqual(names("labelSelector=tier"), ["sel-a", "sel-c"])
        self.assertEqual(names("labelSelector=!tier"), ["sel-b"])
        self.assertEqual(names("fieldSelector=metadata.name%3Dsel-b"), ["sel-b"])
        status, _ = self.status_of("GET", f"{CM}?fieldSelector=data.x%3D1")
        self.assertEqual(status, 400)

    def test_limit_and_continue_paginate_a_consistent_snapshot(self):
        for i in range(5):
            self.server.ok("POST", "/api/v1/namespaces/kube-public/configmaps",
                           configmap(f"page-{i}"))
        first = self.server.ok("GET", "/api/v1/namespaces/kube-public/configmaps?limit=2")
        self.assertEqual(len(first["items"]), 2)
        self.assertEqual(first["metadata"]["remainingItemCount"], 3)
        self.server.ok("POST", "/api/v1/namespaces/kube-public/configmaps", configmap("page-9"))
        token = first["metadata"]["continue"]
        rest = self.server.ok("GET", f"/api/v1/namespaces/kube-public/configmaps?limit=10&"
                                     f"continue={token}")
        self.assertEqual([i["metadata"]["name"] for i in rest["items"]],
                         ["page-2", "page-3", "page-4"])
        self.assertEqual(rest["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"])

    def test_watch_from_resource_version_sees_later_changes_only(self):
        start = self.server.ok("POST", CM, configmap("watch-a"))["metadata"]["resourceVersion"]
        self.server.ok("POST", CM, configmap("watch-b"))
        self.server.ok("DELETE", f"{CM}/watch-a")
        events = self.server.watch(f"{CM}?watch=1&resourceVersion={start}&timeoutSeconds=1")
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
        self.assertEqual(seen[:2], [("ADDED", "watch-b"), ("DELETED", "watch-a")])

    def test_watch_with_label_selector_reports_objects_leaving_it(self):
        created = self.server.ok("POST", CM, configmap("leaver", {"watched": "yes"}))
        events = self.server.watch(f"{CM}?watch=true&labelSelector=watched%3Dyes&"
                                   f"resourceVersion={created['metadata']['resourceVersion']}")
        self.server.ok("PATCH", f"{CM}/leaver", {"metadata": {"labels": {"watched": "no"}}},
                       content_type="application/merge-patch+json")
        event = next(events)
        self.assertEqual((event["type"], event["object"]["metadata"]["name"]),
                         ("DELETED", "leaver"))
        events.close()

    def test_watch_bookmarks_and_timeout(self):
        events = list(self.server.watch(f"{CM}?watch=1&allowWatchBookmarks=true&"
                                        "resourceVersion=1&timeoutSeconds=1"))
        bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
        self.assertTrue(bookmarks)
        self.assertEqual(set(bookmarks[0]["object"]["metadata"]), {"resourceVersion"})

    def test_watch_from_compacted_resource_version_gets_410(self):
        old = self.server.ok("POST", CM, configmap("compacted"))["metadata"]["resourceVersion"]
        self.server.ok("DELETE", f"{CM}/compacted")
        self.server.fault(compact=True)
        events = list(self.server.watch(f"{CM}?watch=1&resourceVersion={old}"))
        self.assertEqual(events[0]["type"], "ERROR")
        self.assertEqual((events[0]["object"]["code"], events[0]["object"]["reason"]),
                         (410, "Expired"))
        listing = self.server.ok("GET", f"{CM}?limit=1")
        self.server.ok("POST", CM, configmap("after-listing"))
        self.server.fault(compact=True)
        status, body = self.status_of("GET", f"{CM}?limit=1&continue="
                                             f"{listing['metadata']['continue']}")
        self.assertEqual((status, body["reason"]), (410, "Expired"))

    def test_drop_watches_ends_open_streams(self):
        events = self.server.watch(f"{CM}?watch=1&resourceVersion=1")
        self.server.fault(dropWatches=True)
        self.assertIsInstance(list(events), list)   # the stream ends instead of hanging

    def test_injected_429_and_500_then_recovery(self):
        self.server.fault(failNext={"count": 1, "code": 429, "retryAfter": 2})
        status, body, headers = self.server.request("GET", CM)
        self.assertEqual((status, body["reason"], headers.get("Retry-After")),
                         (429, "TooManyRequests", "2"))
        self.server.fault(failNext={"count": 1, "code": 500})
        self.assertEqual(self.status_of("GET", CM)[0], 500)
        self.assertEqual(self.status_of("GET", CM)[0], 200)

    def test_request_counts_by_method_and_path(self):
        self.server.ok("DELETE", "/_test/requests")
        self.server.ok("POST", CM, configmap("counted"))
        for value in ("1", "2"):
            self.server.ok("PATCH", f"{CM}/counted", {"data": {"v": value}},
                           content_type="application/merge-patch+json")
        counts = self.server.ok("GET", "/_test/requests")
        self.assertEqual(counts["counts"][f"PATCH {CM}/counted"], 2)
        self.assertEqual(counts["verbs"]["patch"], 2)
        # What benchmarks split the time by: the time taken per method and path, connections.
        self.assertGreater(counts["seconds"][f"PATCH {CM}/counted"], 0)
        self.assertIn(f"PATCH {CM}/counted", counts["cpuSeconds"])
        # The harness connects for each request: 3 counted ones, and this GET.
        self.assertEqual(counts["connections"], 4)

    def test_table_rendering_of_custom_resources(self):
        self.server.ok("POST", PP, policy("tabled"))
        self.server.ok("PATCH", f"{PP}/tabled/status", {"status": {"classification": "Warn"}},
                       content_type="application/merge-patch+json")
        table = self.server.ok("GET", f"{PP}/tabled", accept=TABLE)
        self.assertEqual((table["kind"], table["apiVersion"]), ("Table", "meta.k8s.io/v1"))
        self.assertEqual([c["name"] for c in table["columnDefinitions"]],
                         ["Name", "Class", "Proxy", "Injected", "Age"])
        row = table["rows"][0]
        self.assertEqual(row["cells"][:4], ["tabled", "Warn", "http://p.example:3128", None])
        self.assertEqual(row["object"]["kind"], "PartialObjectMetadata")
        full = self.server.ok("GET", f"{PP}?includeObject=Object", accept=TABLE)
        self.assertTrue(all(r["object"]["kind"] == "ProxyPolicy" for r in full["rows"]))

    def test_namespaced_create_in_missing_namespace_is_404(self):
        status, body = self.status_of("POST", "/api/v1/namespaces/nowhere/configmaps",
                                      configmap("x"))
        self.assertEqual((status, body["message"]), (404, 'namespaces "nowhere" not found'))

    def test_strategic_merge_patch_merges_containers_by_name(self):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "smp"},
               "spec": {"containers": [{"name": "a", "image": "a:1"},
                                       {"name": "b", "image": "b:1"}]}}
        self.server.ok("POST", "/api/v1/namespaces/default/pods", pod)
        patched = self.server.ok("PATCH", "/api/v1/namespaces/default/pods/smp", {
            "spec": {"containers": [{"name": "b", "env": [{"name": "X", "value": "1"}]}]}},
            content_type="application/strategic-merge-patch+json")
        containers = patched["spec"]["containers"]
        self.assertEqual([c["name"] for c in containers], ["a", "b"])
        self.assertEqual(containers[1]["env"], [{"name": "X", "value": "1"}])
        status, _ = self.status_of("PATCH", f"{PP}/tabled", {},
                                   content_type="application/strategic-merge-patch+json")
        self.assertEqual(status, 415)

    def test_events_k8s_io_and_core_events_are_one_resource(self):
        self.server.ok("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "converted"}, "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "agentproxy.io/controller", "reportingInstance": "pod-1",
            "action": "Probe", "reason": "Classified", "type": "Warning", "note": "bumped",
            "regarding": {"kind": "ProxyPolicy", "name": "p", "uid": "u-1"}})
        core = self.server.ok("GET", "/api/v1/namespaces/default/events?fieldSelector="
                                     "involvedObject.uid%3Du-1")["items"]
        self.assertEqual([(e["message"], e["involvedObject"]["name"],
                           e["reportingComponent"]) for e in core],
                         [("bumped", "p", "agentproxy.io/controller")])

    def test_dry_run_does_not_persist(self):
        created = self.server.ok("POST", f"{CM}?dryRun=All", configmap("dry"))
        self.assertEqual(created["metadata"]["name"], "dry")
        self.assertEqual(self.status_of("GET", f"{CM}/dry")[0], 404)

    def test_namespace_deletion_waits_for_finalized_content(self):
        self.server.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "ending"}})
        self.server.ok("POST", "/api/v1/namespaces/ending/configmaps", {
            "metadata": {"name": "held", "finalizers": ["agentproxy.io/hold"]}})
        self.server.ok("DELETE", "/api/v1/namespaces/ending")
        namespace = self.server.ok("GET", "/api/v1/namespaces/ending")
        self.assertEqual(namespace["status"]["phase"], "Terminating")
        status, body = self.status_of("POST", "/api/v1/namespaces/ending/configmaps",
                                      configmap("late"))
        self.assertEqual((status, body["reason"]), (403, "Forbidden"))
        self.server.ok("PATCH", "/api/v1/namespaces/ending/configmaps/held",
                       {"metadata": {"finalizers": None}},
                       content_type="application/merge-patch+json")
        self.assertEqual(self.status_of("GET", "/api/v1/namespaces/ending")[0], 404)

    def test_lease_update_with_resource_version_for_leader_election(self):
        leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
        lease = self.server.ok("POST", leases, {"metadata": {"name": "agentproxy-leader"},
                                                "spec": {"holderIdentity": "a"}})
        lease["spec"]["holderIdentity"] = "b"
        self.server.ok("PUT", f"{leases}/agentproxy-leader", lease)
        lease["spec"]["holderIdentity"] = "c"
        self.assertEqual(self.status_of("PUT", f"{leases}/agentproxy-leader", lease)[0], 409)

    def test_partial_object_metadata_list(self):
        self.server.ok("POST", CM, configmap("partial", {"meta": "only"}))
        body = self.server.ok("GET", f"{CM}?labelSelector=meta%3Donly", accept=(
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"))
        self.assertEqual(body["kind"], "PartialObjectMetadataList")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["partial"])
        self.assertNotIn("data", body["items"][0])


if __name__ == "__main__":
    unittest.main()
