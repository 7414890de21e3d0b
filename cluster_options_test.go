package main

import (
	"io"
	"strings"
	"testing"

	"github.com/cloakroom/cloakroom/natslog"
)

func TestClusterOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		err     string // "" for none
		storage natslog.Storage
	}{
		{"alone", nil, nil, "", natslog.Memory},
		{"nats with a key", []string{"--nats", "nats://127.0.0.1:4222", "--master-key-file", "k"}, nil, "", natslog.Memory},
		{"file storage from the environment", []string{"--master-key-file", "k"}, map[string]string{"CLOAKROOM_NATS": "nats://n:4222", "CLOAKROOM_NATS_STORAGE": "FILE"}, "", natslog.File},
		{"nats without a key", []string{"--nats", "nats://127.0.0.1:4222"}, nil, "--nats needs --master-key-file", 0},
		{"unknown storage", []string{"--nats-storage", "disk"}, nil, "must be memory or file", 0},
		{"two replicas", []string{"--nats", "n", "--master-key-file", "k", "--nats-replicas", "2"}, nil, "must be 1, 3 or 5", 0},
		{"a node name with a dot", []string{"--nats", "n", "--master-key-file", "k", "--node", "a.b"}, nil, `--node "a.b"`, 0},
		{"credentials alone", []string{"--nats-creds", "x.creds"}, nil, "need --nats", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := natslog.Storage(o.cluster.storage); got != tt.storage {
				t.Errorf("storage %v, want %v", got, tt.storage)
			}
		})
	}
}

func TestDefaultNodeName(t *testing.T) {
	a, b := defaultNodeName(), defaultNodeName()
	if !validNodeName(a) || !validNodeName(b) || a == b {
		t.Errorf("default node names %q and %q: want two different valid names", a, b)
	}
}
