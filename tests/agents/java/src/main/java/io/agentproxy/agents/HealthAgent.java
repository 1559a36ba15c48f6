// java-agent: a health-check agent written with grpc-java, the way a Java agent dials its
// management plane. Proxy settings and CAs come only from where the JVM and grpc-java read them
// (the https.proxyHost/https.proxyPort and http.nonProxyHosts system properties through the
// default ProxySelector, javax.net.ssl.trustStore through the default TrustManagerFactory; in
// a pod both arrive in JAVA_TOOL_OPTIONS): nothing here knows about proxies.
//
//   java -jar java-agent.jar --target HOST:PORT [--server-name NAME] [--timeout-ms 5000]
//
// Prints one JSON line {runtime, ok, status, detail} and exits 0 when gRPC works end to end
// (OK, UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED), 1 when it does not, 64 on a
// usage error.
package io.agentproxy.agents;

import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.concurrent.TimeUnit;

public final class HealthAgent {
  private HealthAgent() {}

  public static void main(String[] args) throws Exception {
    String target = null;
    String serverName = null;
    long timeoutMs = 5000;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--target") && i + 1 < args.length) {
        target = args[++i];
      } else if (args[i].equals("--server-name") && i + 1 < args.length) {
        serverName = args[++i];
      } else if (args[i].equals("--timeout-ms") && i + 1 < args.length) {
        timeoutMs = Long.parseLong(args[++i]);
      } else {
        target = null;
        break;
      }
    }
    if (target == null) {
      System.err.println(
          "usage: java -jar java-agent.jar --target HOST:PORT [--server-name NAME]"
              + " [--timeout-ms 5000]");
      System.exit(64);
    }
    // TlsChannelCredentials.create(): the JVM's default trust (javax.net.ssl.trustStore).
    var builder = Grpc.newChannelBuilder(target, TlsChannelCredentials.create());
    if (serverName != null) builder.overrideAuthority(serverName);
    ManagedChannel channel = builder.build();
    boolean ok;
    String status;
    String detail;
    try {
      HealthCheckResponse response =
          HealthGrpc.newBlockingStub(channel)
              .withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS)
              .check(HealthCheckRequest.getDefaultInstance());
      ok = true;
      status = "OK";
      detail = "serving status " + response.getStatus();
    } catch (StatusRuntimeException e) {
      Status.Code code = e.getStatus().getCode();
      ok =
          code == Status.Code.UNIMPLEMENTED
              || code == Status.Code.UNAUTHENTICATED
              || code == Status.Code.PERMISSION_DENIED;
      status = code.name();
      detail = describe(e);
    } finally {
      channel.shutdownNow();
    }
    System.out.println(
        "{\"runtime\":\"jvm\",\"ok\":" + ok + ",\"status\":" + quote(status) + ",\"detail\":"
            + quote(detail) + "}");
    System.out.flush();
    // Netty's threads would keep the JVM up for a moment; the answer is out.
    Runtime.getRuntime().halt(ok ? 0 : 1);
  }

  // The status description's first line (the rest is Netty's pipeline) and its causes, which
  // carry the proxy's and TLS's words.
  private static String describe(StatusRuntimeException e) {
    StringBuilder out = new StringBuilder();
    String description = e.getStatus().getDescription();
    if (description != null) out.append(description.lines().findFirst().orElse(""));
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      if (out.length() > 0) out.append(": ");
      out.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
    }
    return out.toString();
  }

  private static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
