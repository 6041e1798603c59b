package executor

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables an agent sets for the executors it starts.
const (
	EnvAgentEndpoint = "MEZZO_AGENT_ENDPOINT"
	EnvFrameworkID   = "MEZZO_FRAMEWORK_ID"
	EnvExecutorID    = "MEZZO_EXECUTOR_ID"
	// EnvExecutorTokenFD is the number of an inherited file descriptor
	// (the read end of a pipe) from which the executor reads its token
	// once, at start. The token never travels in the environment, which
	// every process of the same host user can read in /proc/PID/environ.
	EnvExecutorTokenFD = "MEZZO_EXECUTOR_TOKEN_FD"
	// EnvExecutorToken carries the token in the environment. Agents no
	// longer set it; ConfigFromEnv still reads it when EnvExecutorTokenFD
	// is unset, because an agent of an earlier version whose binary was
	// upgraded in place re-executes the new binary this way until it is
	// restarted.
	EnvExecutorToken = "MEZZO_EXECUTOR_TOKEN"
	EnvSandbox       = "MEZZO_SANDBOX"
	// EnvAgentCA names a PEM file with the CA the agent's ExecutorAPI
	// certificate chains to; unset, the executor dials without TLS (an
	// agent of a version before TLS).
	EnvAgentCA = "MEZZO_AGENT_CA"
	// EnvRecoveryTimeout is Config.ReconnectTimeout as a Go duration
	// ("15m"): how long the executor waits for an agent that went away
	// (restarted, upgraded) before it ends its tasks. Unset: 15 s.
	EnvRecoveryTimeout = "MEZZO_RECOVERY_TIMEOUT"
	// EnvLogMaxSize and EnvLogMaxFiles are Config.LogMaxSize (bytes) and
	// Config.LogMaxFiles: how the command executor rotates its tasks'
	// output. Unset: DefaultLogMaxSize, DefaultLogMaxFiles.
	EnvLogMaxSize  = "MEZZO_LOG_MAX_SIZE"
	EnvLogMaxFiles = "MEZZO_LOG_MAX_FILES"
)

// Config says where an executor's agent is and who the executor is.
type Config struct {
	Endpoint    string // host:port of the agent's ExecutorAPI
	FrameworkID string
	ExecutorID  string
	Token       string
	Sandbox     string
	// AgentCA is the PEM file the agent's certificate is verified
	// against; "" dials without TLS.
	AgentCA string
	// ReconnectTimeout bounds how long Run keeps trying to (re)subscribe
	// when the agent is unreachable; 0 means 15 s.
	ReconnectTimeout time.Duration
	// LogMaxSize and LogMaxFiles rotate the command executor's task
	// output (Command.LogMaxSize, Command.LogMaxFiles); 0 means the
	// defaults.
	LogMaxSize  int64
	LogMaxFiles int
	Logger      *slog.Logger // nil: slog.Default()
}

// ConfigFromEnv reads the variables the agent sets, and the token from the
// descriptor EnvExecutorTokenFD names; it names the first one missing.
//
// It first makes the process non-dumpable (prctl PR_SET_DUMPABLE 0): its
// /proc/PID files (environ, mem, fd, cwd) then belong to root and ptrace is
// refused, so that no other process of the same host user, a task
// included, can read the token from its memory or its descriptors. The
// descriptor is closed once read and both variables are removed from the
// environment, so the tasks the executor starts inherit neither.
func ConfigFromEnv() (Config, error) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return Config{}, fmt.Errorf("executor: making the process non-dumpable, to keep its token from other processes: %w", err)
	}
	c := Config{
		Endpoint:    os.Getenv(EnvAgentEndpoint),
		FrameworkID: os.Getenv(EnvFrameworkID),
		ExecutorID:  os.Getenv(EnvExecutorID),
		Sandbox:     os.Getenv(EnvSandbox),
		AgentCA:     os.Getenv(EnvAgentCA),
	}
	tok, err := tokenFromEnv()
	if err != nil {
		return Config{}, err
	}
	c.Token = tok
	if v := os.Getenv(EnvRecoveryTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("executor: environment variable %s=%q: want a positive duration such as 15m", EnvRecoveryTimeout, v)
		}
		c.ReconnectTimeout = d
	}
	if v := os.Getenv(EnvLogMaxSize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return Config{}, fmt.Errorf("executor: environment variable %s=%q: want a positive number of bytes", EnvLogMaxSize, v)
		}
		c.LogMaxSize = n
	}
	if v := os.Getenv(EnvLogMaxFiles); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Config{}, fmt.Errorf("executor: environment variable %s=%q: want a positive number of files", EnvLogMaxFiles, v)
		}
		c.LogMaxFiles = n
	}
	for _, v := range []struct{ name, val string }{
		{EnvAgentEndpoint, c.Endpoint}, {EnvFrameworkID, c.FrameworkID},
		{EnvExecutorID, c.ExecutorID}, {EnvExecutorTokenFD, c.Token},
	} {
		if v.val == "" {
			return Config{}, fmt.Errorf("executor: environment variable %s is not set (executors are started by a mezzo agent)", v.name)
		}
	}
	return c, nil
}

// maxTokenBytes bounds what is read from the token descriptor.
const maxTokenBytes = 4096

// tokenFromEnv reads the executor token from the descriptor named by
// EnvExecutorTokenFD (closing it), else from EnvExecutorToken (see there);
// either variable is then unset. "" means neither is set.
func tokenFromEnv() (string, error) {
	v, ok := os.LookupEnv(EnvExecutorTokenFD)
	if !ok {
		tok := os.Getenv(EnvExecutorToken)
		_ = os.Unsetenv(EnvExecutorToken)
		return tok, nil
	}
	_ = os.Unsetenv(EnvExecutorTokenFD)
	_ = os.Unsetenv(EnvExecutorToken)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return "", fmt.Errorf("executor: environment variable %s=%q: want the number of an inherited file descriptor (3 or more)", EnvExecutorTokenFD, v)
	}
	f := os.NewFile(uintptr(fd), "executor-token")
	if f == nil {
		return "", fmt.Errorf("executor: %s=%d: not a file descriptor", EnvExecutorTokenFD, fd)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes))
	if err != nil {
		return "", fmt.Errorf("executor: reading the token from file descriptor %d (%s): %w", fd, EnvExecutorTokenFD, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("executor: no token on file descriptor %d (%s): was it started by a mezzo agent?", fd, EnvExecutorTokenFD)
	}
	return tok, nil
}
