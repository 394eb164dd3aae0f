package vault_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/justpay/justpay/vault"
)

func TestParseMasterKey(t *testing.T) {
	// 0xfb bytes make '+' and '/' in standard base64 and '-' and '_' in the URL alphabet.
	key := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 11)[:32]
	tests := []struct {
		name  string
		input string
		want  []byte // nil when an error is expected
	}{
		{"HexLower", hex.EncodeToString(key), key},
		{"HexUpper", strings.ToUpper(hex.EncodeToString(key)), key},
		{"HexWithNewline", hex.EncodeToString(key) + "\n", key},
		{"HexWithSpaces", "  " + hex.EncodeToString(key) + "\t", key},
		{"Base64Std", base64.StdEncoding.EncodeToString(key), key},
		{"Base64RawStd", base64.RawStdEncoding.EncodeToString(key), key},
		{"Base64URL", base64.URLEncoding.EncodeToString(key), key},
		{"Base64RawURL", base64.RawURLEncoding.EncodeToString(key), key},
		{"AllZeroHex", strings.Repeat("0", 64), make([]byte, 32)},
		{"ErrEmpty", "", nil},
		{"ErrBlank", " \n", nil},
		{"ErrHexTooShort", hex.EncodeToString(key[:31]), nil},
		{"ErrHexTooLong", hex.EncodeToString(key) + "00", nil},
		{"ErrHexBadChar", "g" + hex.EncodeToString(key)[1:], nil},
		{"ErrBase64Of31Bytes", base64.StdEncoding.EncodeToString(key[:31]), nil},
		{"ErrBase64Of33Bytes", base64.StdEncoding.EncodeToString(append(key, 1)), nil},
		{"ErrBase64MixedAlphabets", "-" + base64.StdEncoding.EncodeToString(key)[1:], nil},
		{"ErrBase64InnerSpace", base64.StdEncoding.EncodeToString(key)[:20] + " " + base64.StdEncoding.EncodeToString(key)[20:], nil},
		{"ErrPassphrase", "correct horse battery staple", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vault.ParseMasterKey(tt.input)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("ParseMasterKey(%q) = %x, want an error", tt.input, got)
				}
				if trimmed := strings.TrimSpace(tt.input); len(trimmed) > 8 && strings.Contains(err.Error(), trimmed) {
					t.Fatalf("error %q repeats the secret input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMasterKey(%q): %v", tt.input, err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("ParseMasterKey(%q) = %x, want %x", tt.input, got, tt.want)
			}
		})
	}
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	t.Run("CreatesDirectoryAndFile", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "justpay-data")
		key, err := vault.LoadOrCreateMasterKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != vault.KeySize {
			t.Fatalf("key has %d bytes, want %d", len(key), vault.KeySize)
		}
		if bytes.Equal(key, make([]byte, vault.KeySize)) {
			t.Fatal("key is all zeros")
		}
		assertMode(t, dir, os.ModeDir|0o700)
		path := filepath.Join(dir, vault.MasterKeyFile)
		assertMode(t, path, 0o600)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := hex.EncodeToString(key) + "\n"; string(b) != want {
			t.Fatalf("file holds %q, want %q", b, want)
		}
		assertNoTempFiles(t, dir)
		if _, err := vault.New(key); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ReusesExistingFile", func(t *testing.T) {
		dir := t.TempDir()
		first, err := vault.LoadOrCreateMasterKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		second, err := vault.LoadOrCreateMasterKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("second load gave %x, want %x", second, first)
		}
	})
	t.Run("ReadsOperatorFile", func(t *testing.T) {
		dir := t.TempDir()
		want := bytes.Repeat([]byte{7}, 32)
		path := filepath.Join(dir, vault.MasterKeyFile)
		if err := os.WriteFile(path, []byte(hex.EncodeToString(want)), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := vault.LoadOrCreateMasterKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("key = %x, want %x", got, want)
		}
	})
	t.Run("ExistingDirectoryKeepsItsMode", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if _, err := vault.LoadOrCreateMasterKey(dir); err != nil {
			t.Fatal(err)
		}
		assertMode(t, dir, os.ModeDir|0o750)
		assertMode(t, filepath.Join(dir, vault.MasterKeyFile), 0o600)
	})
	t.Run("ErrCorruptFileIsKept", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, vault.MasterKeyFile)
		if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := vault.LoadOrCreateMasterKey(dir); err == nil {
			t.Fatal("LoadOrCreateMasterKey succeeded on a corrupt file")
		}
		b, _ := os.ReadFile(path)
		if string(b) != "not a key\n" {
			t.Fatalf("corrupt file was replaced by %q", b)
		}
	})
	t.Run("ErrEmptyFile", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, vault.MasterKeyFile), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := vault.LoadOrCreateMasterKey(dir); err == nil {
			t.Fatal("LoadOrCreateMasterKey succeeded on an empty file")
		}
	})
	t.Run("ErrDataDirIsFile", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := vault.LoadOrCreateMasterKey(dir); err == nil {
			t.Fatal("LoadOrCreateMasterKey succeeded with a file as data directory")
		}
	})
	t.Run("ConcurrentCreatorsAgree", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		keys := make([][]byte, 16)
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() { keys[i], errs[i] = vault.LoadOrCreateMasterKey(dir) })
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("creator %d got %x, creator 0 got %x", i, keys[i], keys[0])
			}
		}
		assertNoTempFiles(t, dir)
	})
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
		t.Fatalf("%s has mode %v, want %v", path, got, want)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != vault.MasterKeyFile {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %v, want only %s", dir, names, vault.MasterKeyFile)
	}
}
