// A fixed self-signed EC certificate and its key, for parsing tests only (never served).
#pragma once

namespace agentproxy::kube::testing {

inline constexpr const char* kTestCertPem = R"(-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUZOD6QYk+113gb2QWsdVJ0CCTEO4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJa3ViZS10ZXN0MB4XDTI2MTEyNzExMDczNFoXDTM2MTEyNDEx
MDczNFowFDESMBAGA1UEAwwJa3ViZS10ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEvoG9g69kPzAkp+A7PIIAeIa0LQDpX62Pdvr+agT5Ilnw5wlS/6RH9yHw
BvqsWprjC7OYVal5J8XjxzxfstZ8h6NTMFEwHQYDVR0OBBYEFE9Q3Nhoph6B3yjA
q4DQF/F6r4fVMB8GA1UdIwQYMBaAFE9Q3Nhoph6B3yjAq4DQF/F6r4fVMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAIJv6ZAiAAudZM4fpUdNMhLm
SJOt5vGkpOeWOo0TNGQHAiEA9rwQwrEBilD0yR3gIJ7rLgrvQLvCwXT5Dwjz4hpz
xm4=
-----END CERTIFICATE-----
)";

inline constexpr const char* kTestKeyPem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgktevEGNfp5e8bCM+
2S/LRUsIKi1nK+GnWqbhFbri0wKhRANCAAS+gb2Dr2Q/MCSn4Ds8ggB4hrQtAOlf
rY92+v5qBPkiWfDnCVL/pEf3IfAG+qxamuMLs5hVqXknxePHPF+y1nyH
-----END PRIVATE KEY-----
)";

}  // namespace agentproxy::kube::testing
