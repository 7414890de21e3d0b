package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// natsOperator writes what a nats-server in operator mode needs to admit
// one user of one account with JetStream: a config file (the operator's
// JWT, the account's JWT preloaded) and the user's credentials file (its
// JWT and NKey seed), as `nsc` would make them.
func natsOperator(t *testing.T) (config, creds string) {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	op, err := nkeys.CreateOperator()
	must(err)
	opPub, err := op.PublicKey()
	must(err)
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	must(err)
	acc, err := nkeys.CreateAccount()
	must(err)
	accPub, err := acc.PublicKey()
	must(err)
	ac := jwt.NewAccountClaims(accPub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(op)
	must(err)
	// JetStream needs a system account.
	sys, err := nkeys.CreateAccount()
	must(err)
	sysPub, err := sys.PublicKey()
	must(err)
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(op)
	must(err)
	user, err := nkeys.CreateUser()
	must(err)
	userPub, err := user.PublicKey()
	must(err)
	userJWT, err := jwt.NewUserClaims(userPub).Encode(acc)
	must(err)
	seed, err := user.Seed()
	must(err)
	credsText, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)

	config = filepath.Join(dir, "nats.conf")
	creds = filepath.Join(dir, "user.creds")
	opFile := filepath.Join(dir, "operator.jwt")
	must(os.WriteFile(opFile, []byte(opJWT), 0o600))
	must(os.WriteFile(creds, credsText, 0o600))
	conf := "operator: " + opFile + "\nsystem_account: " + sysPub + "\nresolver: MEMORY\nresolver_preload: {\n  " +
		accPub + ": " + accJWT + "\n  " + sysPub + ": " + sysJWT + "\n}\n"
	must(os.WriteFile(config, []byte(conf), 0o600))
	return config, creds
}

// A node reaches a NATS server that wants TLS (its CA given with
// --nats-ca) and a user's credentials (--nats-creds), and serves; without
// the credentials it stops at start-up with NATS's reason.
func TestNodeWithNATSCredentialsAndTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs it")
	}
	natsBin, err := builtNATS()
	if err != nil {
		t.Fatal(err)
	}
	config, creds := natsOperator(t)
	ca := newTestCA(t)
	ns := startNATS(t, natsBin, "127.0.0.1:0", "-c", config, "--tls", "--tlscert", ca.certFile, "--tlskey", ca.keyFile)
	keyFile, _ := makeKeyFile(t, t.TempDir(), "master.key")
	url := "tls://" + ns.addr

	n := startNode(t, "secure", url, keyFile, "--nats-creds", creds, "--nats-ca", ca.caFile)
	waitReady(t, n.base, true)
	token := joinBot(t, n.base, "vault", "bot")
	if _, status := postBot(n.base, "vault", token, "over TLS"); status != 201 {
		t.Fatalf("post through a NATS with TLS and credentials: %d", status)
	}

	for _, tt := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"no credentials", []string{"--nats-ca", ca.caFile}, "Authorization Violation"},
		{"no CA", []string{"--nats-creds", creds}, "certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runToEnd(t, append([]string{"--addr", "127.0.0.1:0", "--nats", url, "--master-key-file", keyFile}, tt.flags...)...)
			if err == nil || !strings.Contains(out, "--nats: connect:") || !strings.Contains(out, tt.want) {
				t.Errorf("exit %v, output:\n%s\nwant a connect error mentioning %q", err, out, tt.want)
			}
		})
	}
}
