package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cloakroom/cloakroom/crypto"
)

// keyFileLimit is the most of a key file that is read: a key's text is at
// most 66 bytes, so anything near this is some other file given by mistake.
const keyFileLimit = 4 << 10

// The flags that name key files, as errors and logs name them.
const (
	masterKeyFlag    = "--master-key-file"
	oldMasterKeyFlag = "--old-master-key-file"
)

// newBox makes the Box that seals every room's history: from the key files
// the options name, or else from a random key that lives only in this
// process's memory. Either way history itself is kept only in memory, so a
// restart erases it; the key file lets several processes, or a store that
// outlives them, share records. goos is runtime.GOOS (the file mode checks
// are skipped on Windows). Every key's bytes are cleared once the Box has
// them.
func newBox(o options, goos string, log *slog.Logger) (*crypto.Box, error) {
	if o.masterKeyFile == "" {
		if o.oldMasterKeyFile != "" {
			return nil, fmt.Errorf("%s needs %s: the old key only opens records, the current one seals them", oldMasterKeyFlag, masterKeyFlag)
		}
		key, err := crypto.NewKey()
		if err != nil {
			return nil, fmt.Errorf("make master key: %w", err)
		}
		defer clear(key)
		box, err := crypto.NewBox(key)
		if err != nil {
			return nil, fmt.Errorf("make box: %w", err)
		}
		return box, nil
	}

	key, err := readKeyFile(masterKeyFlag, o.masterKeyFile, goos, log)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	var old [][]byte
	var oldID string
	if o.oldMasterKeyFile != "" {
		oldKey, err := readKeyFile(oldMasterKeyFlag, o.oldMasterKeyFile, goos, log)
		if err != nil {
			return nil, err
		}
		defer clear(oldKey)
		old = append(old, oldKey)
		// The old key's id, for the log line: which records still open.
		if ob, err := crypto.NewBox(oldKey); err == nil {
			oldID = ob.KeyID()
		}
	}
	box, err := crypto.NewBox(key, old...)
	if errors.Is(err, crypto.ErrSameKey) {
		return nil, fmt.Errorf("%s %s holds the same key as %s %s; it should hold the key used before the new one",
			oldMasterKeyFlag, o.oldMasterKeyFile, masterKeyFlag, o.masterKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("make box: %w", err)
	}
	attrs := []any{"file", o.masterKeyFile, "key_id", box.KeyID()}
	if o.oldMasterKeyFile != "" {
		attrs = append(attrs, "old_file", o.oldMasterKeyFile, "old_key_id", oldID)
	}
	log.Info("master key from file", attrs...)
	return box, nil
}

// readKeyFile reads and parses the master key in path, which the flag
// flagName named.
// On anything but Windows it refuses a file every user may read or change,
// and warns (on log, naming the file and its mode) if the file's group may
// read or change it: a systemd credential looks like that (mode 0440) when
// systemd grants the service's user access through an ACL, whose mask shows
// as the group bits. Anything but a regular file (a FIFO, a device) is
// refused without being read. Every error starts with the flag and the
// file and says why; none quotes the file's content.
func readKeyFile(flagName, path, goos string, log *slog.Logger) ([]byte, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s %s: %s", flagName, path, fmt.Sprintf(format, args...))
	}
	f, info, err := openRegular(path)
	if errors.Is(err, errDirectory) {
		return nil, fail("is a directory, not a key file")
	}
	if err != nil {
		return nil, fail("%v", pathErrReason(err))
	}
	defer f.Close()
	if goos != "windows" {
		perm := info.Mode().Perm()
		switch {
		case perm&0o004 != 0:
			return nil, fail("mode %04o lets every user read it; chmod 600 it", perm)
		case perm&0o002 != 0:
			return nil, fail("mode %04o lets every user change it; chmod 600 it", perm)
		case perm&0o060 != 0:
			log.Warn("the key file's group may read or change it; fine for a systemd credential (0440 through an ACL), else chmod 600 it",
				"flag", flagName, "file", path, "mode", fmt.Sprintf("%04o", perm))
		}
	}
	text, err := io.ReadAll(io.LimitReader(f, keyFileLimit+1))
	defer clear(text)
	if err != nil {
		return nil, fail("%v", pathErrReason(err))
	}
	if len(text) > keyFileLimit {
		return nil, fail("longer than %d KiB; a key file holds one key, 64 hex digits or 44 base64 characters", keyFileLimit>>10)
	}
	key, err := crypto.ParseKey(text)
	if err != nil {
		return nil, fail("%v", err)
	}
	return key, nil
}

// errDirectory is openRegular's error for a directory.
var errDirectory = errors.New("is a directory")

// openRegular opens path for reading and returns it with its FileInfo, read
// from the open file: the mode and size are those of the very file that
// will be read, even if the path is replaced meanwhile. Anything but a
// regular file is closed again and refused (errDirectory for a directory,
// else a *fs.PathError saying what it is) before a byte is read: reading a
// FIFO nobody writes, or a terminal, may never end and /dev/zero never
// stops, and start-up would wait on it; opening (keyFileOpenFlag) does not
// block either.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|keyFileOpenFlag, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	switch {
	case err != nil:
	case info.IsDir():
		err = errDirectory
	case !info.Mode().IsRegular():
		err = &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("is not a regular file (%s)", fileKind(info.Mode()))}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// readRegular reads the regular file at path (see openRegular), of at most
// limit bytes; a longer file is an error.
func readRegular(path string, limit int64) ([]byte, error) {
	f, _, err := openRegular(path)
	if errors.Is(err, errDirectory) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("longer than %d KiB", limit>>10)}
	}
	return b, err
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "type " + m.Type().String()
}

// pathErrReason returns the reason inside a *fs.PathError ("no such file or
// directory"), since the messages around it name the file already.
func pathErrReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// keygen is `cloakroom keygen FILE`: it writes a new master key, 32 bytes
// from crypto/rand as 64 hex digits and a newline, to FILE, which it creates
// with mode 0600 and never overwrites, and says on stdout where the key is
// and how to use it, without the key. `cloakroom keygen -` writes the key's
// text to stdout instead, for a pipeline that stores it elsewhere (such as
// systemd-creds encrypt), and nothing else.
func keygen(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: cloakroom keygen FILE (or - to write the key to standard output)"
	if len(args) != 1 || args[0] == "" || (strings.HasPrefix(args[0], "-") && args[0] != "-") {
		return errors.New(usage)
	}
	path := args[0]
	key, err := crypto.NewKey()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	defer clear(key)
	text := make([]byte, hex.EncodedLen(len(key))+1)
	defer clear(text)
	hex.Encode(text, key)
	text[len(text)-1] = '\n'

	box, err := crypto.NewBox(key)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if path == "-" {
		if _, err := stdout.Write(text); err != nil {
			return err
		}
		// Only the key goes to stdout (a pipe); its id, which tells
		// nothing about it, to stderr, for the operator to note.
		fmt.Fprintf(stderr, "Wrote a new master key (key id %s) to standard output\n", box.KeyID())
		return nil
	}
	// O_EXCL: an existing file is never replaced, even one that appears
	// between a check and the write; it may be the only copy of a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keygen: %s already exists; keygen never overwrites a key file (move it away, or choose another name)", path)
	}
	if err != nil {
		return fmt.Errorf("keygen: %s: %w", path, pathErrReason(err))
	}
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path) // half a key is no key
		return fmt.Errorf("keygen: write %s: %w", path, pathErrReason(err))
	}
	// The hint names the file absolutely: it must work from any directory.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fmt.Fprintf(stdout, "Wrote a new master key (key id %s) to %s, mode 0600; start the server with %s %s\n",
		box.KeyID(), path, masterKeyFlag, path)
	return nil
}
