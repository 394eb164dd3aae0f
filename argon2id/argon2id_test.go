package argon2id_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/justpay/justpay/argon2id"
)

// cheap keeps tests fast; the algorithm is the same at any cost.
var cheap = argon2id.Params{Memory: 64, Time: 1, Threads: 1}

// MustHash hashes password with p.
func MustHash(tb testing.TB, password string, p argon2id.Params) string {
	tb.Helper()
	encoded, err := argon2id.HashWith(password, p)
	if err != nil {
		tb.Fatal(err)
	}
	return encoded
}

func TestHash_Default(t *testing.T) {
	encoded, err := argon2id.Hash("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=1,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !format.MatchString(encoded) {
		t.Fatalf("Hash = %q, want the format %s", encoded, format)
	}
	if ok, err := argon2id.Verify("hunter2", encoded); err != nil || !ok {
		t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := argon2id.Verify("hunter3", encoded); err != nil || ok {
		t.Fatalf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
	}
	if got := argon2id.Default(); got != (argon2id.Params{Memory: 65536, Time: 1, Threads: 2}) {
		t.Fatalf("Default() = %+v", got)
	}
}

func TestHashWith_RoundTrip(t *testing.T) {
	passwords := []string{"", "a", "correct horse battery staple", "pässwörd 🔑", strings.Repeat("x", 1000)}
	for _, pw := range passwords {
		encoded := MustHash(t, pw, cheap)
		if ok, err := argon2id.Verify(pw, encoded); err != nil || !ok {
			t.Fatalf("Verify(%q) = %v, %v; want true, nil", pw, ok, err)
		}
		for _, wrong := range []string{pw + "x", strings.ToUpper(pw) + "!", " " + pw} {
			if ok, err := argon2id.Verify(wrong, encoded); err != nil || ok {
				t.Fatalf("Verify(%q) against the hash of %q = %v, %v; want false, nil", wrong, pw, ok, err)
			}
		}
	}
	if a, b := MustHash(t, "same", cheap), MustHash(t, "same", cheap); a == b {
		t.Fatal("two hashes of one password are equal: salts must be random")
	}
}

func TestHashWith_Params(t *testing.T) {
	tests := []struct {
		name    string
		params  argon2id.Params
		prefix  string
		wantErr bool
	}{
		{"Cheap", cheap, "$argon2id$v=19$m=64,t=1,p=1$", false},
		{"MoreTime", argon2id.Params{Memory: 32, Time: 3, Threads: 1}, "$argon2id$v=19$m=32,t=3,p=1$", false},
		{"MoreThreads", argon2id.Params{Memory: 32, Time: 1, Threads: 4}, "$argon2id$v=19$m=32,t=1,p=4$", false},
		{"MinimumMemory", argon2id.Params{Memory: 16, Time: 1, Threads: 2}, "$argon2id$v=19$m=16,t=1,p=2$", false},
		{"ErrNoThreads", argon2id.Params{Memory: 64, Time: 1, Threads: 0}, "", true},
		{"ErrNoTime", argon2id.Params{Memory: 64, Time: 0, Threads: 1}, "", true},
		{"ErrTooMuchTime", argon2id.Params{Memory: 64, Time: 65, Threads: 1}, "", true},
		{"ErrMemoryBelow8PerThread", argon2id.Params{Memory: 15, Time: 1, Threads: 2}, "", true},
		{"ErrTooMuchMemory", argon2id.Params{Memory: 4<<20 + 1, Time: 1, Threads: 1}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := argon2id.HashWith("pw", tt.params)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("HashWith(%+v) = %q, want an error", tt.params, encoded)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(encoded, tt.prefix) {
				t.Fatalf("HashWith(%+v) = %q, want prefix %q", tt.params, encoded, tt.prefix)
			}
			got, err := argon2id.DecodeParams(encoded)
			if err != nil || got != tt.params {
				t.Fatalf("DecodeParams = %+v, %v; want %+v", got, err, tt.params)
			}
			if ok, err := argon2id.Verify("pw", encoded); err != nil || !ok {
				t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
			}
			// The parameters are part of the hash: changing one breaks verification.
			for _, changed := range []string{
				strings.Replace(encoded, ",t=", ",t=1", 1),
				strings.Replace(encoded, "m=", "m=1", 1),
			} {
				if ok, err := argon2id.Verify("pw", changed); ok {
					t.Fatalf("Verify with altered parameters %q = true (%v)", changed, err)
				}
			}
		})
	}
}

// TestVerify_ReferenceVectors checks hashes made by the reference implementation
// (phc-winner-argon2, src/test.c), so hashes move between libraries.
func TestVerify_ReferenceVectors(t *testing.T) {
	tests := []struct {
		password, encoded string
	}{
		{"password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{"password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
		{"password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"differentpassword", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$C4TWUs9rDEvq7w3+J4umqA32aWKB1+DSiRuBfYxFj94"},
	}
	for _, tt := range tests {
		ok, err := argon2id.Verify(tt.password, tt.encoded)
		if err != nil || !ok {
			t.Errorf("Verify(%q, %q) = %v, %v; want true, nil", tt.password, tt.encoded, ok, err)
		}
		if ok, _ := argon2id.Verify(tt.password+"!", tt.encoded); ok {
			t.Errorf("Verify(wrong password, %q) = true", tt.encoded)
		}
	}
}

func TestVerify_Malformed(t *testing.T) {
	good := MustHash(t, "pw", cheap)
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, hash
	with := func(i int, s string) string {
		p := append([]string(nil), parts...)
		p[i] = s
		return strings.Join(p, "$")
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"Empty", ""},
		{"Garbage", "not a hash"},
		{"Bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"TooFewFields", strings.Join(parts[:5], "$")},
		{"TooManyFields", good + "$x"},
		{"NoLeadingDollar", strings.TrimPrefix(good, "$")},
		{"Argon2i", with(1, "argon2i")},
		{"Argon2d", with(1, "argon2d")},
		{"Version16", with(2, "v=16")},
		{"VersionMissing", with(2, "m=64,t=1,p=1")},
		{"ParamsMissing", with(3, "")},
		{"ParamsReordered", with(3, "t=1,m=64,p=1")},
		{"ParamsMissingOne", with(3, "m=64,t=1")},
		{"ParamsExtra", with(3, "m=64,t=1,p=1,k=2")},
		{"ParamsTrailingComma", with(3, "m=64,t=1,p=1,")},
		{"ParamsSemicolons", with(3, "m=64;t=1;p=1")},
		{"ParamLeadingZero", with(3, "m=064,t=1,p=1")},
		{"ParamSign", with(3, "m=+64,t=1,p=1")},
		{"ParamNegative", with(3, "m=-64,t=1,p=1")},
		{"ParamNotNumber", with(3, "m=x,t=1,p=1")},
		{"ParamEmpty", with(3, "m=,t=1,p=1")},
		{"ParamOverflow", with(3, "m=99999999999999999999,t=1,p=1")},
		{"ThreadsAbove255", with(3, "m=4096,t=1,p=256")},
		{"ThreadsZero", with(3, "m=64,t=1,p=0")},
		{"TimeZero", with(3, "m=64,t=0,p=1")},
		{"TimeHuge", with(3, "m=64,t=100000,p=1")},
		{"MemoryTooSmall", with(3, "m=7,t=1,p=1")},
		{"MemoryHuge", with(3, "m=4294967295,t=1,p=1")},
		{"SaltPadded", with(4, parts[4]+"==")},
		{"SaltNotBase64", with(4, "!!!!!!!!!!!!!!!!!!!!!!")},
		{"SaltTooShort", with(4, "c29tZQ")},
		{"SaltEmpty", with(4, "")},
		{"SaltURLAlphabet", with(4, "-_-_-_-_-_-_-_-_-_-_-_")},
		{"HashEmpty", with(5, "")},
		{"HashTooShort", with(5, "c29tZWhhc2g")},
		{"HashPadded", with(5, parts[5]+"=")},
		{"HashNonCanonical", with(5, parts[5][:42]+"B")},
		{"TrailingNewline", good + "\n"},
		{"InnerNewline", with(5, parts[5][:20]+"\r\n"+parts[5][20:])},
		{"TrailingSpace", good + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := argon2id.Verify("pw", tt.encoded)
			if err == nil || ok {
				t.Fatalf("Verify(%q) = %v, %v; want false and an error", tt.encoded, ok, err)
			}
			if _, err := argon2id.DecodeParams(tt.encoded); err == nil {
				t.Fatalf("DecodeParams(%q) succeeded", tt.encoded)
			}
		})
	}
}
