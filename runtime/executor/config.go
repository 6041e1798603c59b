package executor

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Environment variables an agent sets for the executors it starts.
const (
	EnvAgentEndpoint = "MEZZO_AGENT_ENDPOINT"
	EnvFrameworkID   = "MEZZO_FRAMEWORK_ID"
	EnvExecutorID    = "MEZZO_EXECUTOR_ID"
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

// ConfigFromEnv reads the variables the agent sets; it names the first one
// missing.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Endpoint:    os.Getenv(EnvAgentEndpoint),
		FrameworkID: os.Getenv(EnvFrameworkID),
		ExecutorID:  os.Getenv(EnvExecutorID),
		Token:       os.Getenv(EnvExecutorToken),
		Sandbox:     os.Getenv(EnvSandbox),
		AgentCA:     os.Getenv(EnvAgentCA),
	}
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
		{EnvExecutorID, c.ExecutorID}, {EnvExecutorToken, c.Token},
	} {
		if v.val == "" {
			return Config{}, fmt.Errorf("executor: environment variable %s is not set (executors are started by a mezzo agent)", v.name)
		}
	}
	return c, nil
}
