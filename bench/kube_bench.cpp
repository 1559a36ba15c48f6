// kube_bench: how fast the kube client takes 10,000 pods in, and what it costs.
//
// Starts a real control plane (scripts/cluster.sh: kube-apiserver v1.36.3, etcd,
// kube-controller-manager) on 127.0.0.1, creates N pods (default 10,000), then measures:
//   informer  the operator's own pod informer (controller::Informer, keeping what the
//          controller reads of a pod) from start to synced: what the operator pays; run first,
//          so that the peak RSS it reports is its own
// and then the kube client alone:
//   list   listEach (pages of 500) into an informer-style cache (name -> object)
//   watch  a watch from "" (the server's initial ADDED events for every pod) into the cache
//   list1  one unpaginated list request, items counted and dropped (last: it grows the heap)
//   live   a watch from the list's resourceVersion while the pods are patched
// For each: wall time, events or items per second, this process' CPU time (the client's own
// cost) and, beside it, the CPU time kube-apiserver and etcd spent in the same phase (from
// /proc). Peak RSS is the process' ru_maxrss. Pods are created and patched by 16 threads.
// Usage: kube_bench [--pods N] [--live N]
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <fstream>
#include <sstream>

#include "cluster_fixture.h"
#include "controller/informer.h"
#include "kube/client.h"
#include "runtime/logger.h"

namespace {

using agentproxy::kube::Client;
using agentproxy::kube::ListOptions;
using agentproxy::kube::PatchType;
using agentproxy::kube::WatchEvent;
using agentproxy::kube::WatchEventType;
using agentproxy::kube::WatchOptions;
namespace resources = agentproxy::kube::resources;
using Clock = std::chrono::steady_clock;

double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double peakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double currentRssMb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * 4096.0 / (1024.0 * 1024.0);
}

nlohmann::json pod(int i) {
  std::string name = "agent-" + std::to_string(i);
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"labels", {{"app", "agent"}, {"shard", std::to_string(i % 16)}}},
        {"annotations", {{"agentproxy.io/injected", "sha256:0123456789abcdef0123456789abcdef"}}}}},
      {"spec",
       {{"containers",
         {{{"name", "agent"},
           {"image", "registry.example.com/agent:1.2.3"},
           {"env",
            {{{"name", "HTTPS_PROXY"}, {"value", "http://proxy.corp.example:3128"}},
             {{"name", "NO_PROXY"}, {"value", "localhost,127.0.0.1,.svc,.cluster.local"}}}},
           {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}}}}}}}}}};
}

// CPU seconds (user + system) of a process of the cluster, from /proc/PID/stat.
double processCpuSeconds(const std::filesystem::path& pidFile) {
  std::ifstream pidIn(pidFile);
  long pid = 0;
  pidIn >> pid;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  if (pid <= 0 || close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::filesystem::path clusterDir;

struct Phase {
  const char* name;
  Clock::time_point start = Clock::now();
  double cpuStart = cpuSeconds();
  double apiserverStart = processCpuSeconds(clusterDir / "apiserver.pid");
  double etcdStart = processCpuSeconds(clusterDir / "etcd.pid");
  void report(size_t count, const char* unit) const {
    double wall = std::chrono::duration<double>(Clock::now() - start).count();
    double cpu = cpuSeconds() - cpuStart;
    std::printf(
        "%-8s %6zu %-6s wall %7.3f s  %9.0f %s/s  client CPU %6.3f s  kube-apiserver CPU "
        "%6.2f s  etcd CPU %5.2f s  RSS now %6.1f MB  peak %6.1f MB\n",
        name, count, unit, wall, static_cast<double>(count) / wall, unit, cpu,
        processCpuSeconds(clusterDir / "apiserver.pid") - apiserverStart,
        processCpuSeconds(clusterDir / "etcd.pid") - etcdStart, currentRssMb(), peakRssMb());
  }
};

}  // namespace

int main(int argc, char** argv) {
  int pods = 10000;
  int live = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--pods") == 0) pods = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--live") == 0) live = std::atoi(argv[i + 1]);
  }
  agentproxy::kube::configureHttpThreads(2);
  agentproxy::kube::testing::ClusterProcess server;
  clusterDir = server.dir();
  Client client(server.adminConfig());
  const std::string ns = "bench";
  client.create(resources::namespaces(), "",
                {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  // Pods need the namespace's default ServiceAccount (the ServiceAccount admission plugin),
  // which kube-controller-manager creates a moment after the namespace.
  for (int i = 0; i < 300; ++i) {
    try {
      client.get(agentproxy::kube::ResourceType{"", "v1", "serviceaccounts", true}, ns, "default");
      break;
    } catch (const agentproxy::kube::NotFoundError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  {
    Phase phase{"create"};
    std::atomic<int> next{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 16; ++t) {
      writers.emplace_back([&] {
        for (int i = next++; i < pods; i = next++) client.create(resources::pods(), ns, pod(i));
      });
    }
    for (auto& w : writers) w.join();
    phase.report(static_cast<size_t>(pods), "pods");
  }
  std::printf("baseline RSS %.1f MB\n", currentRssMb());

  {
    // Real pods are large (the API server's defaults, managedFields, the ServiceAccount
    // token volume); the informer keeps compact text of the fields the controller reads.
    std::ostringstream quiet;
    agentproxy::runtime::Logger log(quiet, agentproxy::runtime::LogLevel::Error);
    agentproxy::controller::Informer informer(client, resources::pods(), {}, log,
                                              agentproxy::controller::Informer::podEssentials);
    Phase phase{"informer"};
    std::jthread runner([&](std::stop_token stop) { informer.run(stop); });
    while (!informer.synced()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    phase.report(informer.list().size(), "pods");
  }
  std::printf("  (the client-only phases below keep whole pods as trees; their RSS is theirs)\n");

  std::map<std::string, nlohmann::json> cache;
  std::string listRv;
  {
    Phase phase{"list"};
    ListOptions options;
    options.limit = 500;
    listRv = client.listEach(resources::pods(), ns, options, [&](nlohmann::json&& item) {
      std::string name = item["metadata"]["name"];
      cache[name] = std::move(item);
    });
    phase.report(cache.size(), "pods");
  }

  {
    Phase phase{"watch"};
    std::stop_source stop;
    size_t added = 0;
    WatchOptions options;  // resourceVersion "": initial ADDED events for every pod
    options.allowBookmarks = false;
    client.watch(
        resources::pods(), ns, options,
        [&](const WatchEvent& e) {
          if (e.type != WatchEventType::kAdded) return;
          cache[e.object["metadata"]["name"].get<std::string>()] = e.object;
          if (++added == static_cast<size_t>(pods)) stop.request_stop();
        },
        stop.get_token());
    phase.report(added, "events");
  }

  {
    // One request for everything (no pagination), kept only as long as it takes to count it.
    Phase phase{"list1"};
    auto all = client.list(resources::pods(), ns);
    phase.report(all.items.size(), "pods");
  }

  if (live > 0) {
    std::stop_source stop;
    std::atomic<size_t> modified{0};
    WatchOptions options;
    options.resourceVersion = listRv;
    Phase phase{"live"};
    std::thread watcher([&] {
      client.watch(
          resources::pods(), ns, options,
          [&](const WatchEvent& e) {
            if (e.type != WatchEventType::kModified) return;
            cache[e.object["metadata"]["name"].get<std::string>()] = e.object;
            if (++modified == static_cast<size_t>(live)) stop.request_stop();
          },
          stop.get_token());
    });
    std::atomic<int> next{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 16; ++t) {
      writers.emplace_back([&] {
        for (int i = next++; i < live; i = next++) {
          client.patch(resources::pods(), ns, "agent-" + std::to_string(i), PatchType::kMerge,
                       {{"metadata", {{"labels", {{"touched", "yes"}}}}}});
        }
      });
    }
    for (auto& w : writers) w.join();
    watcher.join();
    phase.report(modified.load(), "events");
  }
  std::printf("cache %zu pods; peak RSS %.1f MB\n", cache.size(), peakRssMb());
  return 0;
}
