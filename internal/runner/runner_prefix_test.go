package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/runner"
)

// Synthetic shared prefixes on a trace preset are refused, not ignored.
func TestSystemPromptOnATraceIsRefused(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Workload.SystemPromptTokens = 100
	_, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg})
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "workload.system_prompt_tokens") {
		t.Fatalf("seed preset with a system prompt: %v", err)
	}
}
