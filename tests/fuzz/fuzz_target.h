// The entry point every fuzz target defines. libFuzzer calls it in the AGENTPROXY_FUZZ build;
// replay_main.cpp calls it with each file of the committed corpus in the normal build.
//
// A target returns 0 for every input. It lets through only what the function under test
// documents as its way of refusing input (SpecError, InputError, ...); anything else that
// escapes, any sanitizer report and any broken property a target checks (fuzzCheck) is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace agentproxy::fuzz {

inline std::string_view asText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property that must hold for every input: abort (a crash to libFuzzer, a failed test to the
// replay) with what was broken.
inline void fuzzCheck(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property broken: %s\n", what);
    std::abort();
  }
}

}  // namespace agentproxy::fuzz
