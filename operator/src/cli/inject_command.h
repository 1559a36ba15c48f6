// `agentproxy inject` (hidden; for tests and for people who want to see what the webhook does):
// the webhook's own mutation of a pod by a policy, with the files of the copies it refers to,
// without a cluster. tests/agents starts real agents with exactly this (injection.py).
//
//   agentproxy inject --policy FILE --pod FILE [--trust-ca FILE]... [--system-cas FILE]
//                     [--credentials SECRET.json --secret-dir DIR] [--ca-dir DIR]
//                     [--api-server-host H] [--service-cidr C]... [--pod-cidr C]...
//                     [--output pod|patch]
//
// Prints the pod as the API server stores it after admission (or the JSON Patch). --ca-dir gets
// the CA ConfigMap copy's keys as files (ca-bundle.crt, ca-bundle.p12), --secret-dir the
// credentials Secret copy's (username, password, percent-encoded as the copy holds them).
// --trust-ca files stand for the policy's trust.caBundles, in order. Exit 0, or 64 with a
// one-line reason on bad input.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace agentproxy::cli {

int runInjectCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

extern const char kInjectUsage[];

}  // namespace agentproxy::cli
