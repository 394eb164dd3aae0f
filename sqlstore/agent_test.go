package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/justpay/justpay"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
)

func TestRegisterAgent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)

		t.Run("OK", func(t *testing.T) {
			a, key, secret, err := env.Store.RegisterAgent(ctx, justpay.AgentRegistration{
				Name: "summarizer-bot", Description: "I summarize", Capabilities: []string{"text"},
				CallbackURL: "https://agent.example/hook", Email: "ops@agent.example", Password: "correct horse"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(secret, "jp_") || key.Prefix != secret[:6] || a.Activated || a.DepositAddress == "" {
				t.Fatalf("agent %+v key %+v secret %q", a, key, secret)
			}
			if err := env.Chain.ValidateAddress(a.DepositAddress); err != nil {
				t.Fatalf("deposit address %q: %v", a.DepositAddress, err)
			}
			p, err := env.Store.Authenticate(ctx, secret)
			if err != nil || p.Agent.ID != a.ID || p.KeyID != key.ID {
				t.Fatalf("authenticate = %+v, %v", p, err)
			}
			if b := env.MustBalance(t, a.ID); b != (justpay.Balance{}) {
				t.Fatalf("new agent balance = %+v", b)
			}
		})
		t.Run("ErrDuplicateNameIgnoringCase", func(t *testing.T) {
			env.MustRegister(t, "Twin")
			_, _, _, err := env.Store.RegisterAgent(ctx, justpay.AgentRegistration{Name: "twin"})
			if code := justpay.ErrorCode(err); code != justpay.ECONFLICT {
				t.Fatalf("code = %q (%v), want conflict", code, err)
			}
		})
		for _, tc := range []struct {
			name string
			reg  justpay.AgentRegistration
		}{
			{"ErrNameTooShort", justpay.AgentRegistration{Name: "a"}},
			{"ErrNameTooLong", justpay.AgentRegistration{Name: strings.Repeat("a", 51)}},
			{"ErrNameChars", justpay.AgentRegistration{Name: "bad name!"}},
			{"ErrDescription", justpay.AgentRegistration{Name: "ok-name", Description: strings.Repeat("é", 501)}},
			{"ErrCapabilities", justpay.AgentRegistration{Name: "ok-name", Capabilities: make([]string, 21)}},
			{"ErrEmptyCapability", justpay.AgentRegistration{Name: "ok-name", Capabilities: []string{""}}},
			{"ErrPassword", justpay.AgentRegistration{Name: "ok-name", Password: "short"}},
			{"ErrCallbackURL", justpay.AgentRegistration{Name: "ok-name", CallbackURL: "ftp://x"}},
			{"ErrEmail", justpay.AgentRegistration{Name: "ok-name", Email: "not-an-email"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, _, err := env.Store.RegisterAgent(ctx, tc.reg)
				if code := justpay.ErrorCode(err); code != justpay.EINVALID {
					t.Fatalf("code = %q (%v), want invalid", code, err)
				}
			})
		}
		t.Run("ErrUnknownKey", func(t *testing.T) {
			for _, k := range []string{"", "jp_nope", "nope", "jp_" + strings.Repeat("x", 200)} {
				if _, err := env.Store.Authenticate(ctx, k); justpay.ErrorCode(err) != justpay.EUNAUTHORIZED {
					t.Fatalf("Authenticate(%q) = %v, want unauthorized", k, err)
				}
			}
		})
	})
}

func TestAPIKeys(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, first := env.MustRegister(t, "keyholder")
		other, _ := env.MustRegister(t, "other")

		t.Run("ErrRevokeLastKey", func(t *testing.T) {
			keys, _ := env.Store.FindAPIKeys(ctx, a.ID)
			if err := env.Store.RevokeAPIKey(ctx, a.ID, keys[0].ID); justpay.ErrorCode(err) != justpay.ECONFLICT {
				t.Fatalf("revoke last key = %v, want conflict", err)
			}
		})
		env.Clock.Advance(time.Second) // keys list newest first
		second, secret, err := env.Store.CreateAPIKey(ctx, a.ID, "production-key")
		if err != nil || second.Name != "production-key" {
			t.Fatalf("create key = %+v, %v", second, err)
		}
		if p, err := env.Store.Authenticate(ctx, secret); err != nil || p.KeyID != second.ID {
			t.Fatalf("authenticate new key = %+v, %v", p, err)
		}
		t.Run("ErrNotYourKey", func(t *testing.T) {
			if err := env.Store.RevokeAPIKey(ctx, other.ID, second.ID); justpay.ErrorCode(err) != justpay.ENOTFOUND {
				t.Fatalf("revoke other's key = %v, want not_found", err)
			}
		})
		t.Run("ErrKeyNameTooLong", func(t *testing.T) {
			if _, _, err := env.Store.CreateAPIKey(ctx, a.ID, strings.Repeat("k", 101)); justpay.ErrorCode(err) != justpay.EINVALID {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
		t.Run("RevokeTakesEffectAtOnce", func(t *testing.T) {
			keys, _ := env.Store.FindAPIKeys(ctx, a.ID)
			if len(keys) != 2 || keys[0].ID != second.ID {
				t.Fatalf("keys = %+v, want the new key first", keys)
			}
			if err := env.Store.RevokeAPIKey(ctx, a.ID, keys[1].ID); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Store.Authenticate(ctx, first); justpay.ErrorCode(err) != justpay.EUNAUTHORIZED {
				t.Fatalf("revoked key still authenticates: %v", err)
			}
			if err := env.Store.RevokeAPIKey(ctx, a.ID, keys[1].ID); justpay.ErrorCode(err) != justpay.ECONFLICT {
				t.Fatalf("second revoke = %v, want conflict", err)
			}
			if err := env.Store.RevokeAPIKey(ctx, a.ID, second.ID); justpay.ErrorCode(err) != justpay.ECONFLICT {
				t.Fatalf("revoking the last active key = %v, want conflict", err)
			}
		})
	})
}

func TestUpdateAgent(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		env := sqlstoretest.NewEnv(t, b)
		a, _ := env.MustRegister(t, "updater")
		desc, site := "new description", "https://updater.dev"
		caps := []string{"image-gen", "video-gen"}
		got, err := env.Store.UpdateAgent(ctx, a.ID, justpay.AgentUpdate{Description: &desc, WebsiteURL: &site, Capabilities: &caps})
		if err != nil {
			t.Fatal(err)
		}
		if got.Description != desc || got.WebsiteURL != site || strings.Join(got.Capabilities, ",") != "image-gen,video-gen" || got.Name != "updater" {
			t.Fatalf("updated agent = %+v", got)
		}
		bad := "javascript:alert(1)"
		if _, err := env.Store.UpdateAgent(ctx, a.ID, justpay.AgentUpdate{AvatarURL: &bad}); justpay.ErrorCode(err) != justpay.EINVALID {
			t.Fatalf("bad avatar url = %v, want invalid", err)
		}
		if _, err := env.Store.UpdateAgent(ctx, "cnope", justpay.AgentUpdate{Description: &desc}); justpay.ErrorCode(err) != justpay.ENOTFOUND {
			t.Fatalf("unknown agent = %v, want not_found", err)
		}
	})
}
