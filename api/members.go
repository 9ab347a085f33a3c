package api

// Members and their keys (admin only):
//
//	GET    /api/organizations/{org}/members              list
//	POST   /api/organizations/{org}/members              create; the key is shown once
//	GET    /api/organizations/{org}/members/{id}         one member
//	PATCH  /api/organizations/{org}/members/{id}         change email, department, billing mode, role, limit
//	DELETE /api/organizations/{org}/members/{id}         delete: the key is refused at once
//	POST   /api/organizations/{org}/members/{id}/rotate  new key, shown once; the old one is refused at once
//
// Every change runs inside one account.Directory transaction, which the
// proxy and the API read lock-free: when the answer is sent, the new key
// works and the old one is refused everywhere. Members created through the
// API are saved in the store's state under "member/<org>/<id>" as JSON with
// the SHA-256 of their key, never the key, and come back at start through
// LoadMembers. Members of the config file are not saved: the config file is
// their source of truth, so changing, rotating or deleting one through the
// API lasts until the next start, when the config file applies again.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/store"
)

// Limits of member fields.
const (
	memberIDMax    = 64
	memberEmailMax = 254
	memberDeptMax  = 128
	// memberLimitMaxUSD is the largest monthly_limit_usd, as in the config.
	memberLimitMaxUSD = 1_000_000_000
	// memberKeyPrefix starts every key the API creates.
	memberKeyPrefix = "im_"
	// memberStatePrefix starts the state key of every saved member.
	memberStatePrefix = "member/"
	// memberRecordVersion is the version of memberRecord.
	memberRecordVersion = 1
)

// memberJSON is a member as the API shows it: never its key nor its hash.
type memberJSON struct {
	ID              string  `json:"id"`
	OrgID           string  `json:"org_id"`
	Email           string  `json:"email"`
	Department      string  `json:"department"`
	BillingMode     string  `json:"billing_mode"`
	Role            string  `json:"role"`
	MonthlyLimitUSD USD     `json:"monthly_limit_usd"`
	CreatedAt       *string `json:"created_at"`
	Source          string  `json:"source"`
}

func memberOf(m *account.Member) memberJSON {
	j := memberJSON{
		ID:              m.ID,
		OrgID:           m.Org,
		Email:           m.Email,
		Department:      m.Department,
		BillingMode:     m.BillingMode,
		Role:            m.Role,
		MonthlyLimitUSD: USD(m.MonthlyLimitNano),
		Source:          m.Source.String(),
	}
	if !m.CreatedAt.IsZero() {
		s := m.CreatedAt.UTC().Format(time.RFC3339)
		j.CreatedAt = &s
	}
	return j
}

type membersAnswer struct {
	Success bool         `json:"success"`
	Members []memberJSON `json:"members"`
}

type memberAnswer struct {
	Success bool       `json:"success"`
	Member  memberJSON `json:"member"`
	// APIKey is the member's new key, shown only by create and rotate.
	APIKey  string `json:"api_key,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Note warns when a change of a config member lasts until the next start.
	Note string `json:"note,omitempty"`
}

// memberConfigNote is the note of a change to a config member.
const memberConfigNote = "declared in the config file: this change lasts until the next start, when the config file applies again"

// memberRecord is a member saved in the store's state: the SHA-256 of its
// key, never the key.
type memberRecord struct {
	V                int       `json:"v"`
	Org              string    `json:"org"`
	ID               string    `json:"id"`
	Email            string    `json:"email"`
	Department       string    `json:"department"`
	BillingMode      string    `json:"billing_mode"`
	Role             string    `json:"role"`
	MonthlyLimitNano int64     `json:"monthly_limit_nano"`
	KeySHA256        string    `json:"key_sha256"`
	CreatedAt        time.Time `json:"created_at"`
}

// memberError is a refusal with its status, returned from inside a
// directory transaction.
type memberError struct {
	status    int
	code, msg string
}

func (e *memberError) Error() string { return e.msg }

func memberNotFound(org, id string) error {
	return &memberError{fasthttp.StatusNotFound, "not_found", fmt.Sprintf("no member %q in organization %q", id, org)}
}

// memberInput is a create or update body; nil fields were not given.
type memberInput struct {
	id, email, department, billingMode, role *string
	limitNano                                *int64
}

// listMembers serves GET /api/organizations/{org}/members.
func (a *API) listMembers(c *call) {
	ms := a.opt.Accounts.Members(c.org.ID)
	out := membersAnswer{Success: true, Members: make([]memberJSON, 0, len(ms))}
	for _, m := range ms {
		out.Members = append(out.Members, memberOf(m))
	}
	a.writeJSON(c.ctx, out)
}

// getMember serves GET /api/organizations/{org}/members/{id}.
func (a *API) getMember(c *call) {
	m, ok := a.opt.Accounts.Member(c.org.ID, c.params["id"])
	if !ok {
		a.memberFail(c, memberNotFound(c.org.ID, c.params["id"]))
		return
	}
	a.writeJSON(c.ctx, memberAnswer{Success: true, Member: memberOf(m)})
}

// createMember serves POST /api/organizations/{org}/members: 201 with the
// member and its key, which is never shown again.
func (a *API) createMember(c *call) {
	in, err := parseMemberInput(c.ctx.PostBody(), true)
	if err != nil {
		a.badParam(c.ctx, err)
		return
	}
	org := c.org.ID
	key, hash := newMemberKey()
	m := account.Member{
		Org:         org,
		Email:       *in.email,
		BillingMode: account.OrgPays,
		Role:        account.RoleMember,
		KeyHash:     hash,
		CreatedAt:   a.now().UTC(),
		Source:      account.SourceAPI,
	}
	in.apply(&m)
	err = a.opt.Accounts.Write(func(tx *account.Tx) error {
		if in.id != nil {
			if _, ok := tx.Member(org, *in.id); ok {
				return &memberError{fasthttp.StatusConflict, "member_exists", fmt.Sprintf("id: member %q exists already in organization %q", *in.id, org)}
			}
			m.ID = *in.id
		} else {
			for m.ID == "" {
				id := newMemberID()
				if _, ok := tx.Member(org, id); !ok {
					m.ID = id
				}
			}
		}
		if err := tx.PutMember(m); err != nil {
			return err
		}
		return a.saveMember(&m)
	})
	if err != nil {
		a.memberFail(c, err)
		return
	}
	c.ctx.SetStatusCode(fasthttp.StatusCreated)
	a.writeJSON(c.ctx, memberAnswer{Success: true, Member: memberOf(&m), APIKey: key})
}

// updateMember serves PATCH /api/organizations/{org}/members/{id}: the
// fields given change, the key stays. The org's last admin cannot be
// demoted.
func (a *API) updateMember(c *call) {
	in, err := parseMemberInput(c.ctx.PostBody(), false)
	if err != nil {
		a.badParam(c.ctx, err)
		return
	}
	org, id := c.org.ID, c.params["id"]
	var m account.Member
	err = a.opt.Accounts.Write(func(tx *account.Tx) error {
		old, ok := tx.Member(org, id)
		if !ok {
			return memberNotFound(org, id)
		}
		m = *old
		in.apply(&m)
		if old.IsAdmin() && !m.IsAdmin() && tx.Admins(org) == 1 {
			return &memberError{fasthttp.StatusConflict, "last_admin", fmt.Sprintf("role: cannot demote %q: it is the last admin of organization %q; make another member admin first", id, org)}
		}
		if err := tx.PutMember(m); err != nil {
			return err
		}
		return a.saveMember(&m)
	})
	if err != nil {
		a.memberFail(c, err)
		return
	}
	a.writeJSON(c.ctx, memberAnswer{Success: true, Member: memberOf(&m), Note: memberNote(&m)})
}

// deleteMember serves DELETE /api/organizations/{org}/members/{id}: the key
// is refused from the moment the answer is sent. The org's last admin
// cannot be deleted.
func (a *API) deleteMember(c *call) {
	org, id := c.org.ID, c.params["id"]
	var m account.Member
	err := a.opt.Accounts.Write(func(tx *account.Tx) error {
		old, ok := tx.Member(org, id)
		if !ok {
			return memberNotFound(org, id)
		}
		m = *old
		if old.IsAdmin() && tx.Admins(org) == 1 {
			return &memberError{fasthttp.StatusConflict, "last_admin", fmt.Sprintf("cannot delete %q: it is the last admin of organization %q; make another member admin first", id, org)}
		}
		if err := tx.DeleteMember(org, id); err != nil {
			return err
		}
		if m.Source != account.SourceAPI || a.opt.Store == nil {
			return nil
		}
		if err := a.opt.Store.DeleteState(memberStateKey(org, id)); err != nil {
			return fmt.Errorf("cannot delete saved member %q: %w", id, err)
		}
		return nil
	})
	if err != nil {
		a.memberFail(c, err)
		return
	}
	a.writeJSON(c.ctx, memberAnswer{Success: true, Member: memberOf(&m), Deleted: true, Note: memberNote(&m)})
}

// rotateMember serves POST /api/organizations/{org}/members/{id}/rotate:
// a new key, shown once; the old key is refused from the moment the answer
// is sent.
func (a *API) rotateMember(c *call) {
	org, id := c.org.ID, c.params["id"]
	key, hash := newMemberKey()
	var m account.Member
	err := a.opt.Accounts.Write(func(tx *account.Tx) error {
		old, ok := tx.Member(org, id)
		if !ok {
			return memberNotFound(org, id)
		}
		m = *old
		m.KeyHash = hash
		if err := tx.PutMember(m); err != nil {
			return err
		}
		return a.saveMember(&m)
	})
	if err != nil {
		a.memberFail(c, err)
		return
	}
	a.writeJSON(c.ctx, memberAnswer{Success: true, Member: memberOf(&m), APIKey: key, Note: memberNote(&m)})
}

// memberFail answers the error of a member change.
func (a *API) memberFail(c *call, err error) {
	var me *memberError
	if errors.As(err, &me) {
		a.fail(c.ctx, me.status, me.code, me.msg)
		return
	}
	a.fail(c.ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
}

// memberNote returns the note of a change to m.
func memberNote(m *account.Member) string {
	if m.Source == account.SourceConfig {
		return memberConfigNote
	}
	return ""
}

// saveMember saves m in the store's state when it was created through the
// API; config members are not saved.
func (a *API) saveMember(m *account.Member) error {
	if m.Source != account.SourceAPI || a.opt.Store == nil {
		return nil
	}
	b, err := json.Marshal(memberRecord{
		V:                memberRecordVersion,
		Org:              m.Org,
		ID:               m.ID,
		Email:            m.Email,
		Department:       m.Department,
		BillingMode:      m.BillingMode,
		Role:             m.Role,
		MonthlyLimitNano: m.MonthlyLimitNano,
		KeySHA256:        account.HashHex(m.KeyHash),
		CreatedAt:        m.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("cannot encode member %q: %w", m.ID, err)
	}
	if err := a.opt.Store.PutState(memberStateKey(m.Org, m.ID), b); err != nil {
		return fmt.Errorf("cannot save member %q: %w", m.ID, err)
	}
	return nil
}

// memberStateKey is the state key of a saved member.
func memberStateKey(org, id string) string { return memberStatePrefix + org + "/" + id }

// LoadMembers adds the members saved through the API in st to dir. Call it
// once at start, after the members of the config file are put and before
// serving. The config file is the source of truth for its members: a saved
// member with the org and id of a config member is dropped from the store
// (the config member is kept as configured), and a config member deleted or
// rotated through the API is back as configured. A saved member of an org
// that is no longer configured is skipped and kept in the store.
func LoadMembers(st *store.Store, dir *account.Directory) error {
	type saved struct {
		key string
		m   account.Member
	}
	var all []saved
	var bad error
	err := st.ScanState(memberStatePrefix, func(key string, value []byte) bool {
		var r memberRecord
		if err := json.Unmarshal(value, &r); err != nil {
			bad = fmt.Errorf("cannot decode saved member %q: %w", key, err)
			return false
		}
		h, err := hex.DecodeString(r.KeySHA256)
		if err != nil || len(h) != 32 {
			bad = fmt.Errorf("cannot decode saved member %q: key_sha256 is not 64 hex digits", key)
			return false
		}
		m := account.Member{
			ID: r.ID, Org: r.Org, Email: r.Email, Department: r.Department, BillingMode: r.BillingMode,
			Role: r.Role, MonthlyLimitNano: r.MonthlyLimitNano, CreatedAt: r.CreatedAt, Source: account.SourceAPI,
		}
		copy(m.KeyHash[:], h)
		all = append(all, saved{key: key, m: m})
		return true
	})
	if err != nil {
		return fmt.Errorf("cannot load members: %w", err)
	}
	if bad != nil {
		return bad
	}
	var stale []string
	err = dir.Write(func(tx *account.Tx) error {
		for _, s := range all {
			if _, ok := tx.Org(s.m.Org); !ok {
				continue
			}
			if old, ok := tx.Member(s.m.Org, s.m.ID); ok && old.Source == account.SourceConfig {
				stale = append(stale, s.key)
				continue
			}
			if err := tx.PutMember(s.m); err != nil {
				return fmt.Errorf("cannot load saved member %q: %w", s.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, key := range stale {
		if err := st.DeleteState(key); err != nil {
			return fmt.Errorf("cannot drop saved member %q: %w", key, err)
		}
	}
	return nil
}

// newMemberKey returns a new key (memberKeyPrefix and 32 random bytes in
// base64url) and its hash.
func newMemberKey() (string, [32]byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	key := memberKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, account.HashKey([]byte(key))
}

// newMemberID returns a random member id ("m-" and 16 hex digits).
func newMemberID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "m-" + hex.EncodeToString(b[:])
}

// apply sets the fields of in on m.
func (in *memberInput) apply(m *account.Member) {
	if in.email != nil {
		m.Email = *in.email
	}
	if in.department != nil {
		m.Department = *in.department
	}
	if in.billingMode != nil {
		m.BillingMode = *in.billingMode
	}
	if in.role != nil {
		m.Role = *in.role
	}
	if in.limitNano != nil {
		m.MonthlyLimitNano = *in.limitNano
	}
}

// parseMemberInput reads a create (create true: email required, id
// optional) or update (every field optional, id refused) body. Errors name
// the field.
func parseMemberInput(body []byte, create bool) (memberInput, error) {
	var in memberInput
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return in, errors.New("body: must be a JSON object")
	}
	var err error
	gjson.ParseBytes(body).ForEach(func(k, v gjson.Result) bool {
		err = in.field(k.String(), v, create)
		return err == nil
	})
	if err != nil {
		return in, err
	}
	if create && in.email == nil {
		return in, errors.New("email: must be given")
	}
	return in, nil
}

// field reads one field of a member body.
func (in *memberInput) field(name string, v gjson.Result, create bool) error {
	if name == "monthly_limit_usd" {
		n, err := parseMemberLimit(v)
		if err != nil {
			return fmt.Errorf("monthly_limit_usd: %w", err)
		}
		in.limitNano = &n
		return nil
	}
	var dst **string
	switch name {
	case "id":
		dst = &in.id
	case "email":
		dst = &in.email
	case "department":
		dst = &in.department
	case "billing_mode":
		dst = &in.billingMode
	case "role":
		dst = &in.role
	case "api_key":
		return errors.New("api_key: keys are made by the server and shown once; use the rotate route for a new one")
	default:
		return fmt.Errorf("%s: unknown field; known: id, email, department, billing_mode, role, monthly_limit_usd", name)
	}
	if v.Type != gjson.String {
		return fmt.Errorf("%s: must be a string", name)
	}
	s := v.String()
	switch name {
	case "id":
		if !create {
			return errors.New("id: cannot be changed")
		}
		if !validMemberID(s) {
			return fmt.Errorf("id: %q must be 1 to %d characters of A-Z, a-z, 0-9, _, . and -", s, memberIDMax)
		}
	case "email":
		if s == "" {
			return errors.New("email: must not be empty")
		}
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s || len(s) > memberEmailMax {
			return fmt.Errorf("email: %q is not an email address", s)
		}
	case "department":
		if len(s) > memberDeptMax || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("department: %q must be at most %d printable characters", s, memberDeptMax)
		}
	case "billing_mode":
		if s != account.OrgPays && s != account.MemberPays {
			return fmt.Errorf("billing_mode: %q is not one of org_pays, member_pays", s)
		}
	case "role":
		if s != account.RoleAdmin && s != account.RoleMember {
			return fmt.Errorf("role: %q is not one of admin, member", s)
		}
	}
	*dst = &s
	return nil
}

// validMemberID reports whether id is 1 to memberIDMax characters of
// A-Z, a-z, 0-9, '_', '.' and '-' (and not "." or "..", which are no path
// segments).
func validMemberID(id string) bool {
	if id == "" || len(id) > memberIDMax || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// parseMemberLimit reads a monthly limit in USD (a JSON number; null is 0,
// no limit) as nano-dollars, rounded half up on the decimal digits of the
// number's shortest representation, as the config file's limits are.
func parseMemberLimit(v gjson.Result) (int64, error) {
	switch v.Type {
	case gjson.Null:
		return 0, nil
	case gjson.Number:
	default:
		return 0, errors.New("must be a number (USD)")
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is not a number", v.Raw)
	}
	if f < 0 {
		return 0, fmt.Errorf("must be >= 0, got %s", v.Raw)
	}
	if !(f <= memberLimitMaxUSD) {
		return 0, fmt.Errorf("must be at most %d, got %s", memberLimitMaxUSD, v.Raw)
	}
	whole, frac, _ := strings.Cut(strconv.FormatFloat(f, 'f', -1, 64), ".")
	frac += strings.Repeat("0", max(0, 10-len(frac)))
	w, _ := strconv.ParseInt(whole, 10, 64) // at most 10 digits by the check above
	n, _ := strconv.ParseInt(frac[:9], 10, 64)
	n += w * 1e9
	if frac[9] >= '5' {
		n++
	}
	return n, nil
}
