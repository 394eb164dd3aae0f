package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/justpay/justpay"
)

// decodeRequest runs decode over a request with body and content type.
func decodeRequest(t *testing.T, contentType, body string, v any) error {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return decode(httptest.NewRecorder(), r, v)
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		code        string // "" for success
		msg         string // substring of the message
	}{
		{"OK", "application/json", `{"name":"bot","capabilities":["a"]}`, "", ""},
		{"OKNoContentType", "", `{"name":"bot"}`, "", ""},
		{"OKCharset", "application/json; charset=utf-8", `{"name":"bot"}`, "", ""},
		{"OKTrailingWhitespace", "", "{\"name\":\"bot\"}\n\t ", "", ""},
		{"Empty", "", ``, justpay.EINVALID, "request body is required"},
		{"Whitespace", "", "  \n", justpay.EINVALID, "request body is required"},
		{"WrongContentType", "text/plain", `{"name":"bot"}`, codeUnsupportedMedia, "Content-Type must be application/json"},
		// curl -d sends a form Content-Type; the body must still be JSON.
		{"FormContentTypeNotJSON", "application/x-www-form-urlencoded", `name=bot`, justpay.EINVALID, "must be a JSON object"},
		{"TextContentType", "text/plain", `{"name":"bot"}`, codeUnsupportedMedia, "application/json"},
		{"NotAnObjectArray", "", `["bot"]`, justpay.EINVALID, "must be a JSON object"},
		{"NotAnObjectNull", "", `null`, justpay.EINVALID, "must be a JSON object"},
		{"NotAnObjectString", "", `"bot"`, justpay.EINVALID, "must be a JSON object"},
		{"UnknownField", "", `{"name":"bot","admin":true}`, justpay.EINVALID, `unknown field "admin"`},
		{"TrailingObject", "", `{"name":"bot"}{"name":"x"}`, justpay.EINVALID, "single JSON object"},
		{"TrailingGarbage", "", `{"name":"bot"} x`, justpay.EINVALID, "single JSON object"},
		{"TrailingBrace", "", `{"name":"bot"}}`, justpay.EINVALID, "single JSON object"},
		{"Syntax", "", `{"name":bot}`, justpay.EINVALID, "not valid JSON"},
		{"SyntaxTrailingComma", "", `{"name":"bot",}`, justpay.EINVALID, "not valid JSON"},
		{"Truncated", "", `{"name":"bot"`, justpay.EINVALID, "unexpected end of input"},
		{"TypeString", "", `{"name":5}`, justpay.EINVALID, "name must be a string"},
		{"TypeArray", "", `{"capabilities":"a"}`, justpay.EINVALID, "capabilities must be an array of strings"},
		{"TypeArrayElement", "", `{"capabilities":[1]}`, justpay.EINVALID, "capabilities must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req registerRequest
			err := decodeRequest(t, tc.contentType, tc.body, &req)
			if got := justpay.ErrorCode(err); got != tc.code {
				t.Fatalf("code = %q, want %q (err %v)", got, tc.code, err)
			}
			if tc.code != "" && !strings.Contains(justpay.ErrorMessage(err), tc.msg) {
				t.Fatalf("message = %q, want it to contain %q", justpay.ErrorMessage(err), tc.msg)
			}
		})
	}
}

func TestDecode_Values(t *testing.T) {
	var req registerRequest
	body := `{"name":"bot","description":"d","capabilities":["a","b"],"callbackUrl":"https://x.dev/h","email":"a@b.co","password":"12345678"}`
	if err := decodeRequest(t, "application/json", body, &req); err != nil {
		t.Fatal(err)
	}
	want := registerRequest{Name: "bot", Description: "d", Capabilities: []string{"a", "b"},
		CallbackURL: "https://x.dev/h", Email: "a@b.co", Password: "12345678"}
	if req.Name != want.Name || req.Description != want.Description || len(req.Capabilities) != 2 ||
		req.CallbackURL != want.CallbackURL || req.Email != want.Email || req.Password != want.Password {
		t.Fatalf("got %+v, want %+v", req, want)
	}
}

func TestDecode_TooLarge(t *testing.T) {
	// A valid JSON object just over the limit.
	big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	var req registerRequest
	err := decodeRequest(t, "", big, &req)
	if got := justpay.ErrorCode(err); got != codeTooLarge {
		t.Fatalf("code = %q, want %q", got, codeTooLarge)
	}
	if got := errorStatus(justpay.ErrorCode(err)); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", got)
	}
	if msg := justpay.ErrorMessage(err); msg != "request body too large (limit 1 MiB)" {
		t.Fatalf("message = %q", msg)
	}

	t.Run("ExactlyAtLimit", func(t *testing.T) {
		body := `{"name":"` + strings.Repeat("a", MaxBodyBytes-len(`{"name":""}`)) + `"}`
		if len(body) != MaxBodyBytes {
			t.Fatalf("len = %d", len(body))
		}
		if err := decodeRequest(t, "", body, &req); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMicroAmount(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want int64  // when msg == ""
		msg  string // substring of the error message
	}{
		{"OK", `{"amount":5000000}`, 5000000, ""},
		{"OKOne", `{"amount":1}`, 1, ""},
		{"OKMaxInt64", `{"amount":9223372036854775807}`, 9223372036854775807, ""},
		{"Fraction", `{"amount":1.5}`, 0, "amount must be a whole number of micro-units without a fraction"},
		{"FractionZero", `{"amount":5.0}`, 0, "without a fraction"},
		{"Exponent", `{"amount":1e6}`, 0, "amount must be written as plain digits without an exponent"},
		{"ExponentUpper", `{"amount":1E6}`, 0, "without an exponent"},
		{"Negative", `{"amount":-5}`, 0, "amount must not be negative"},
		{"NegativeZero", `{"amount":-0}`, 0, "must not be negative"},
		{"Zero", `{"amount":0}`, 0, "amount must be greater than zero"},
		{"Missing", `{}`, 0, "amount is required"},
		{"Null", `{"amount":null}`, 0, "amount is required"},
		{"String", `{"amount":"5000000"}`, 0, "amount must be a JSON number of micro-units, not a string"},
		{"Bool", `{"amount":true}`, 0, "amount must be a whole number"},
		{"Object", `{"amount":{}}`, 0, "amount must be a whole number"},
		{"Array", `{"amount":[1]}`, 0, "amount must be a whole number"},
		{"Overflow", `{"amount":9223372036854775808}`, 0, "amount is too large"},
		{"HugeOverflow", `{"amount":123456789012345678901234567890}`, 0, "amount is too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req withdrawRequest
			err := decodeJSON([]byte(tc.body), &req)
			var amount int64
			if err == nil {
				amount, err = requirePositive("amount", req.Amount)
			}
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if amount != tc.want {
					t.Fatalf("amount = %d, want %d", amount, tc.want)
				}
				return
			}
			if got := justpay.ErrorCode(err); got != justpay.EINVALID {
				t.Fatalf("code = %q, want invalid (err %v)", got, err)
			}
			if !strings.Contains(justpay.ErrorMessage(err), tc.msg) {
				t.Fatalf("message = %q, want it to contain %q", justpay.ErrorMessage(err), tc.msg)
			}
		})
	}

	t.Run("NestedFieldNamed", func(t *testing.T) {
		var req struct {
			Inner struct {
				Budget microAmount `json:"budget"`
			} `json:"inner"`
		}
		err := decodeJSON([]byte(`{"inner":{"budget":2.5}}`), &req)
		if msg := justpay.ErrorMessage(err); !strings.HasPrefix(msg, "inner.budget must be a whole number") {
			t.Fatalf("message = %q", msg)
		}
	})
}

func TestDecodeNone(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"Empty", "", true},
		{"Whitespace", " \n", true},
		{"EmptyObject", "{}", true},
		{"EmptyObjectSpaced", " { } ", true},
		{"Field", `{"amount":1}`, false},
		{"Array", `[]`, false},
		{"Null", `null`, false},
		{"Garbage", `hello`, false},
		{"TwoObjects", `{}{}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/wallet/panic", strings.NewReader(tc.body))
			err := decodeNone(httptest.NewRecorder(), r)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				if justpay.ErrorCode(err) != justpay.EINVALID || !strings.Contains(justpay.ErrorMessage(err), "takes no request body") {
					t.Fatalf("err = %v, want invalid 'takes no request body'", err)
				}
			}
		})
	}
}

func TestDecodeOptional(t *testing.T) {
	var req createKeyRequest
	r := httptest.NewRequest(http.MethodPost, "/api/v1/auth/keys", nil)
	if err := decodeOptional(httptest.NewRecorder(), r, &req); err != nil || req.Name != "" {
		t.Fatalf("empty body: %v %+v", err, req)
	}
	r = httptest.NewRequest(http.MethodPost, "/api/v1/auth/keys", strings.NewReader(`{"name":"ci"}`))
	if err := decodeOptional(httptest.NewRecorder(), r, &req); err != nil || req.Name != "ci" {
		t.Fatalf("named: %v %+v", err, req)
	}
	r = httptest.NewRequest(http.MethodPost, "/api/v1/auth/keys", strings.NewReader(`{"nom":"ci"}`))
	if err := decodeOptional(httptest.NewRecorder(), r, &req); justpay.ErrorCode(err) != justpay.EINVALID {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestUpdateAgentRequest(t *testing.T) {
	t.Run("AbsentNullValue", func(t *testing.T) {
		var req updateAgentRequest
		body := `{"description":null,"avatarUrl":"https://a.dev/x.png","capabilities":null}`
		if err := decodeJSON([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		upd := req.update()
		if upd.Description == nil || *upd.Description != "" {
			t.Fatalf("description: null must clear, got %v", upd.Description)
		}
		if upd.AvatarURL == nil || *upd.AvatarURL != "https://a.dev/x.png" {
			t.Fatalf("avatarUrl = %v", upd.AvatarURL)
		}
		if upd.WebsiteURL != nil || upd.CallbackURL != nil {
			t.Fatal("absent fields must stay nil")
		}
		if upd.Capabilities == nil || *upd.Capabilities == nil || len(*upd.Capabilities) != 0 {
			t.Fatalf("capabilities: null must clear to [], got %v", upd.Capabilities)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		var req updateAgentRequest
		if err := decodeJSON([]byte(`{}`), &req); err != nil {
			t.Fatal(err)
		}
		if upd := req.update(); upd != (justpay.AgentUpdate{}) {
			t.Fatalf("got %+v, want no changes", upd)
		}
	})
	for _, tc := range []struct{ name, body, msg string }{
		{"DescriptionNumber", `{"description":5}`, "description must be a string"},
		{"CapabilitiesString", `{"capabilities":"a"}`, "capabilities must be an array of strings"},
		{"CapabilitiesElement", `{"capabilities":["a",2]}`, "capabilities must be a string"},
		{"Unknown", `{"name":"rename"}`, `unknown field "name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req updateAgentRequest
			err := decodeJSON([]byte(tc.body), &req)
			if justpay.ErrorCode(err) != justpay.EINVALID || !strings.Contains(justpay.ErrorMessage(err), tc.msg) {
				t.Fatalf("err = %v, want invalid containing %q", err, tc.msg)
			}
		})
	}
}

func TestDevAdvanceRequest(t *testing.T) {
	for _, tc := range []struct{ name, body, msg string }{
		{"Fraction", `{"seconds":1.5}`, "seconds must be a whole number"},
		{"Exponent", `{"seconds":1e3}`, "seconds must be a whole number"},
		{"String", `{"seconds":"60"}`, "seconds must be a whole number"},
		{"Overflow", `{"seconds":99999999999999999999}`, "seconds must be a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req devAdvanceRequest
			err := decodeJSON([]byte(tc.body), &req)
			if justpay.ErrorCode(err) != justpay.EINVALID || !strings.Contains(justpay.ErrorMessage(err), tc.msg) {
				t.Fatalf("err = %v, want invalid containing %q", err, tc.msg)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bodies to the decoder of every write endpoint: it must never panic,
// and every failure must be an invalid *justpay.Error.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"amount":5000000}`, `{"amount":1.5}`, `{"amount":1e6}`, `{"amount":-1}`,
		`{"amount":"1"}`, `{"amount":99999999999999999999}`, `{"name":"bot","capabilities":["a"]}`,
		`{"description":null,"capabilities":null}`, `{"capabilities":[null]}`, `{"address":"abc"}`,
		`{"from":"a","to":"b","amount":1}`, `{"seconds":60}`, `{"x":1}`, `{"name":"a"}{}`, `{"name":"\ud800"}`,
		`{"amount":0}`, `{"amount":-0}`, `{"amount":00}`, `{"a":{"b":[[[[[]]]]]}}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	targets := []func() any{
		func() any { return new(registerRequest) },
		func() any { return new(createKeyRequest) },
		func() any { return new(updateAgentRequest) },
		func() any { return new(setAddressRequest) },
		func() any { return new(withdrawRequest) },
		func() any { return new(devTransferRequest) },
		func() any { return new(devAdvanceRequest) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var e *justpay.Error
			if !errors.As(err, &e) || e.Code != justpay.EINVALID || e.Message == "" {
				t.Fatalf("body %q: error %#v is not an invalid *justpay.Error", body, err)
			}
		}
		for _, target := range targets {
			v := target()
			err := decodeJSON(body, v)
			check(err)
			if err == nil {
				switch req := v.(type) {
				case *withdrawRequest:
					_, err = requirePositive("amount", req.Amount)
					check(err)
				case *devTransferRequest:
					_, err = requirePositive("amount", req.Amount)
					check(err)
				case *updateAgentRequest:
					_ = req.update()
				}
			}
		}
		check(decodeEmptyJSON(body))
	})
}
