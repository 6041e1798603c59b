// Package security is how mezzo decides who is calling and what they may
// do: mutual TLS, principals, credentials, ACLs and per-principal limits
// for the runtime's gRPC servers (master, agent ExecutorAPI).
//
// # Certificates
//
// [InitDir] (behind `mezzo certs init DIR`) writes a CA and one key pair per
// principal, ECDSA P-256, PEM:
//
//	ca.crt ca.key                   the cluster CA (keep ca.key offline)
//	master.crt master.key           role master: server + client, SANs localhost, 127.0.0.1, ::1, the host name
//	agent.crt agent.key             role agent: client (to the master) + server (its own --http), same SANs
//	framework.crt framework.key     role client; principal "framework"
//	admin.crt admin.key             role client; principal "admin"
//
// A certificate's principal is the path of its URI SAN
// mezzo://principal/NAME, or its CommonName when it has no such SAN
// ([PrincipalFromCert]).
//
// # Roles
//
// Every certificate of the cluster is bound to a [Role] by a second URI
// SAN, mezzo://role/master, mezzo://role/agent or mezzo://role/client
// ([CertRole]), signed by the CA with the rest. The host names say where a
// server is; the role says what it is. Peers check it: clients of a master
// ([ClientTLS], and token clients with [MasterCAOnlyTLS], before their
// token goes out) accept only a master's certificate in the handshake
// ([VerifyServerRole]), the master's sandbox proxy only an agent's (the
// same check with [RoleAgent], as [ClientTLSTo] sets it); servers admit
// certificates by role ([Authenticator.Roles], [RoleGuard] per gRPC
// service), on gRPC and HTTP alike, also when a bearer token names the
// caller: a token says who calls, not that the connection's certificate may
// do more than its role. A certificate without a role, as an older `mezzo
// certs init` made them, is refused with the advice to issue the
// certificates again: no peer can tell what it is for.
//
// # TLS
//
// [ServerTLS] and [ClientTLS] build TLS 1.3 configurations from PEM files
// ([TLSFiles]): servers require a client certificate signed by the CA,
// clients verify the server against the same CA. [CheckListen] is the rule
// that a master on a non-loopback address needs TLS unless told --insecure.
//
// # Authentication
//
// An [Authenticator] finds the caller's principal: a bearer token in the
// gRPC metadata ("authorization: Bearer TOKEN"), checked against a
// [Credentials] file in constant time, or else the verified peer
// certificate. Its interceptors put the principal in the context
// ([PrincipalFrom]); a wrong token, or no identity when one is required,
// is codes.Unauthenticated. The scheme is case-insensitive ("bearer" is
// "Bearer", RFC 7235). Tokens are never logged. With [Failures] set,
// failed authentications are logged (peer address, method, reason, the
// principal a certificate claimed; the first of a peer at once, the rest
// as a summary a window) and throttled per peer address: past its budget
// a peer's token calls are refused unchecked, ResourceExhausted (HTTP
// 429), after a short delay; certificates still get in. A credentials
// file is JSON, each secret at least 16 bytes ([MinSecretLen]):
//
//	{"credentials": [{"principal": "analytics", "secret": "6f1d0c3a9e8b7f25d41c"}]}
//
// # HTTP
//
// The same Authenticator names HTTP callers ([Authenticator.AuthenticateHTTP]:
// an "Authorization: Bearer TOKEN" header, else a verified client
// certificate). [Guard] wraps a handler with it and an allow function
// ([OnlyPrincipals], or an ACL check); refusals are JSON errors with 401 or
// 403 ([WriteHTTPError]). [HTTPServerTLS] verifies a client certificate
// when one is given without demanding it, so that browsers can use tokens.
//
// # Authorization
//
// An [Authorizer] answers Allow(ctx, principal, action, object). [AllowAll]
// allows everything (no ACL file); an [ACL] loaded from a JSON file denies
// whatever no rule allows. Rules list principals and, per action, the
// objects they may act on; "ANY" matches any principal or object:
//
//	{
//	  "register_frameworks": [{"principals": ["analytics"], "roles": ["analytics"]}],
//	  "run_tasks":           [{"principals": ["analytics"], "users": ["nobody"]}],
//	  "teardown_frameworks": [{"principals": ["admin"], "framework_principals": ["ANY"]}],
//	  "kill_tasks":          [{"principals": ["admin"], "framework_principals": ["ANY"]}],
//	  "register_agents":     [{"principals": ["agent"]}],
//	  "view_state":          [{"principals": ["ANY"]}],
//	  "read_sandbox":        [{"principals": ["admin"], "framework_principals": ["ANY"]}],
//	  "drain_agents":        [{"principals": ["admin"]}]
//	}
//
// (testdata/acl.example.json is this example.) A principal acting on its own
// framework (kill its tasks, tear it down, read its sandboxes) needs no
// rule: only acting on other principals' frameworks does. Denials are a
// [*DeniedError] (gRPC PermissionDenied) naming principal, action and
// object; callers log them.
//
// # Limits
//
// A [Limiter] is a token bucket per principal; [Limiter.UnaryInterceptor]
// answers codes.ResourceExhausted to calls over the rate, so one client's
// flood costs the others nothing; [ServerConfig.MoreLimits] gives other
// methods limiters of their own ([MethodLimit]). [ServerOptions] assembles TLS, the
// interceptors, a message size limit, a stream limit and a handshake
// deadline for grpc.NewServer. [LimitListener] bounds the connections a
// listener holds at once and [NewHTTPServer] gives HTTP servers header and
// idle deadlines, so connections that never complete a handshake hold a
// bounded number of descriptors for a bounded time.
package security
