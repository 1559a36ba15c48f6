// go-agent: a health-check agent written with grpc-go, the way a Go agent dials its management
// plane. Proxy settings and CAs come only from where grpc-go and Go's crypto/tls read them
// (HTTPS_PROXY/https_proxy and NO_PROXY/no_proxy through net/http's ProxyFromEnvironment;
// SSL_CERT_FILE/SSL_CERT_DIR for the system roots): nothing here knows about proxies.
//
//	go-agent --target HOST:PORT [--server-name NAME] [--timeout 5s]
//
// Prints one JSON line {runtime, ok, status, detail} and exits 0 when gRPC works end to end
// (OK, UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED), 1 when it does not, 64 on a
// usage error.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

type result struct {
	Runtime string `json:"runtime"`
	Ok      bool   `json:"ok"`
	Status  string `json:"status"`
	Detail  string `json:"detail"`
}

func emit(r result) {
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if r.Ok {
		os.Exit(0)
	}
	os.Exit(1)
}

func main() {
	target := flag.String("target", "", "HOST:PORT of the management plane")
	serverName := flag.String("server-name", "", "TLS server name, when it is not the target's host")
	timeout := flag.Duration("timeout", 5*time.Second, "deadline of the health check")
	flag.Parse()
	host, _, err := net.SplitHostPort(*target)
	if err != nil || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: go-agent --target HOST:PORT [--server-name NAME] [--timeout 5s]")
		os.Exit(64)
	}
	r := result{Runtime: "go"}
	// RootCAs nil: the system pool, which honours SSL_CERT_FILE and SSL_CERT_DIR.
	config := &tls.Config{ServerName: host}
	if *serverName != "" {
		config.ServerName = *serverName
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(credentials.NewTLS(config)))
	if err != nil {
		r.Status, r.Detail = "CLIENT_ERROR", err.Error()
		emit(r)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	code := status.Code(err)
	r.Status = codeName(code)
	switch {
	case err == nil:
		r.Ok, r.Detail = true, "serving status "+resp.GetStatus().String()
	default:
		r.Detail = status.Convert(err).Message()
		r.Ok = code == codes.Unimplemented || code == codes.Unauthenticated ||
			code == codes.PermissionDenied
	}
	emit(r)
}

// codeName gives the canonical upper-case name (UNAVAILABLE), as the other runtimes print it.
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
		codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
		codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
		codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return c.String()
}
