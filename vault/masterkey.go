package vault

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFile is the name of the file, inside the data directory, that holds a generated master
// key in hex.
const MasterKeyFile = "master.key"

// ParseMasterKey decodes a master key written as 64 hex characters or as base64 of 32 bytes
// (standard or URL alphabet, padded or not), ignoring surrounding white space. The error never
// repeats the input, which is a secret.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("vault: master key is empty: want 64 hex characters or base64 of 32 bytes")
	}
	if len(s) == 2*KeySize {
		key, err := hex.DecodeString(s)
		if err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.Strict().DecodeString(s)
		if err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("vault: master key of %d characters is neither 64 hex characters nor base64 of %d bytes (generate one with: openssl rand -hex 32)", len(s), KeySize)
}

// LoadOrCreateMasterKey returns the master key kept in MasterKeyFile inside dataDir, creating the
// directory (mode 0700) and the file (mode 0600, 32 random bytes in hex) if they do not exist. The
// file appears atomically and is never replaced: when several processes start at once, all of
// them end up with the key of the first one to create it. An existing file that does not hold a
// valid key is an error, never overwritten, since values sealed under it would be lost.
func LoadOrCreateMasterKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err := readMasterKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: create data directory: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("vault: generate master key: %w", err)
	}
	if err := createFileOnce(dataDir, path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
		return nil, err
	}
	// Read back what is there: another process may have created the file first.
	return readMasterKey(path)
}

func readMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault: read master key: %w", err)
	}
	key, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// createFileOnce writes data to a temporary file in dir with mode 0600 and links it into place at
// path, which fails if path already exists, so a file another process created first is kept. A
// link rather than a rename, because a rename would replace that file.
func createFileOnce(dir, path string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+MasterKeyFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("vault: create master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o600) // CreateTemp uses 0600 already; say it where it matters
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("vault: write master key: %w", err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil, errors.Is(err, fs.ErrExist):
	default:
		// Some file systems have no hard links: create the file exclusively instead. A process
		// reading it while it is being written fails to parse it and stops, which is safe.
		if err := writeExclusive(path, data); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("vault: create master key: %w", err)
		}
	}
	syncDir(dir)
	return nil
}

// writeExclusive creates path with mode 0600 and writes data to it; it fails with fs.ErrExist if
// path exists, and removes the file it created if writing fails.
func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(path) // ours, and incomplete
	}
	return err
}

// syncDir makes a new directory entry durable. It is best effort: some platforms cannot sync a
// directory, and the key file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
