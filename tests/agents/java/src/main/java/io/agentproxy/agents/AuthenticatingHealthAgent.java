// The same health-check agent, as a Java agent that installs a java.net.Authenticator for its
// proxy, with the credentials from the https.proxyUser and https.proxyPassword system properties
// (the convention of Gradle, Maven and many Java applications; the JDK itself reads neither).
// This is the code a Java agent needs to get through a proxy that asks for credentials: the JVM
// takes them from no property or variable on its own. grpc-java asks the default Authenticator
// and sends Basic itself (the JDK's jdk.http.auth.tunneling.disabledSchemes binds only
// HttpURLConnection).
//
//   java -cp java-agent.jar io.agentproxy.agents.AuthenticatingHealthAgent --target HOST:PORT ...
package io.agentproxy.agents;

import java.net.Authenticator;
import java.net.PasswordAuthentication;

public final class AuthenticatingHealthAgent {
  private AuthenticatingHealthAgent() {}

  public static void main(String[] args) throws Exception {
    String user = System.getProperty("https.proxyUser");
    String password = System.getProperty("https.proxyPassword");
    if (user != null && password != null) {
      Authenticator.setDefault(
          new Authenticator() {
            @Override
            protected PasswordAuthentication getPasswordAuthentication() {
              if (getRequestorType() != RequestorType.PROXY) return null;
              return new PasswordAuthentication(user, password.toCharArray());
            }
          });
    }
    HealthAgent.main(args);
  }
}
