package justpay

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// Validate checks a new job's fields and fills in defaults. Errors: EINVALID, ENOTFOUND (a
// malformed service ID).
func (nj *NewJob) Validate() error {
	if len(nj.Input) == 0 {
		return Errorf(EINVALID, "input is required: the job's input data as JSON")
	}
	if err := ValidateJSON("input", nj.Input); err != nil {
		return err
	}
	if err := ValidateURL("callbackUrl", nj.CallbackURL); err != nil {
		return err
	}
	switch nj.Type {
	case JobDirect:
		if nj.ServiceID == "" {
			return Errorf(EINVALID, "serviceId is required for a direct job")
		}
		if !IsID(nj.ServiceID) {
			return Errorf(ENOTFOUND, "service not found")
		}
		if nj.Title != "" || nj.Description != "" || nj.Category != "" || nj.Amount != 0 || nj.ApplicationWindow != nil {
			return Errorf(EINVALID, "title, category, description, amount and applicationWindow are for open jobs; a direct job's price is the service's pricePerJob")
		}
		return nil
	case JobOpen:
	default:
		return Errorf(EINVALID, `type must be "direct" or "open"`)
	}
	if nj.ServiceID != "" {
		return Errorf(EINVALID, "serviceId is for direct jobs")
	}
	if n := utf8.RuneCountInString(nj.Title); n < MinJobTitleLen {
		return Errorf(EINVALID, "title must be %d-%d characters", MinJobTitleLen, MaxJobTitleLen)
	}
	if err := ValidateText("title", nj.Title, MaxJobTitleLen); err != nil {
		return err
	}
	if utf8.RuneCountInString(nj.Category) < 2 {
		return Errorf(EINVALID, "category must be 2-50 characters")
	}
	if err := ValidateText("category", nj.Category, 50); err != nil {
		return err
	}
	if utf8.RuneCountInString(nj.Description) < MinJobDescriptionLen {
		return Errorf(EINVALID, "description must be %d-%d characters", MinJobDescriptionLen, MaxJobDescriptionLen)
	}
	if err := ValidateText("description", nj.Description, MaxJobDescriptionLen); err != nil {
		return err
	}
	if nj.Amount <= 0 {
		return Errorf(EINVALID, "amount must be a positive number of micro-units")
	}
	if nj.ApplicationWindow == nil {
		w := DefaultApplicationWindowSecs
		nj.ApplicationWindow = &w
	}
	if w := *nj.ApplicationWindow; w < MinApplicationWindowSecs || w > MaxApplicationWindowSecs {
		return Errorf(EINVALID, "applicationWindow must be %d-%d seconds", MinApplicationWindowSecs, MaxApplicationWindowSecs)
	}
	return nil
}

// Job actions, for CheckAction.
const (
	ActionAccept         = "accept"
	ActionDeliver        = "deliver"
	ActionAcceptDelivery = "accept-delivery"
	ActionCancel         = "cancel"
	ActionApply          = "apply"
	ActionAssign         = "accept an application to"
	ActionRate           = "rate"
)

// jobActionRules says, for each action, who may take it and in which statuses.
var jobActionRules = map[string]struct {
	client, provider, other bool
	from                    []string
}{
	ActionAccept:         {provider: true, from: []string{JobPending}},
	ActionDeliver:        {provider: true, from: []string{JobAccepted}},
	ActionAcceptDelivery: {client: true, from: []string{JobDelivered}},
	ActionCancel:         {client: true, from: []string{JobQueued, JobPending, JobOpenState, JobAccepted}},
	ActionApply:          {other: true, from: []string{JobOpenState}},
	ActionAssign:         {client: true, from: []string{JobOpenState}},
	ActionRate:           {client: true, provider: true, from: []string{JobCompleted}},
}

// CheckAction decides whether agentID may take action on the job now. Errors: ENOTFOUND (the
// agent is not a party and the job is not open to it), EFORBIDDEN (the wrong party), ECONFLICT
// (the job is in the wrong state, or its deadline passed).
func (j *Job) CheckAction(action, agentID string, now time.Time) error {
	rule, ok := jobActionRules[action]
	if !ok {
		return fmt.Errorf("unknown job action %q", action)
	}
	isClient, isProvider := agentID == j.ClientID, agentID != "" && agentID == j.ProviderID
	if action == ActionApply {
		isProvider = false // anyone but the client may apply while the job is open
	}
	switch {
	case action == ActionApply && isClient:
		return Errorf(EFORBIDDEN, "you cannot apply to your own job")
	case action == ActionApply && j.Type != JobOpen:
		return Errorf(ENOTFOUND, "job not found")
	case !isClient && !isProvider && !rule.other:
		return Errorf(ENOTFOUND, "job not found")
	case isClient && !rule.client, isProvider && !rule.provider:
		who := "client"
		if rule.provider {
			who = "provider"
		}
		return Errorf(EFORBIDDEN, "only the job's %s can %s it", who, action)
	case !slices.Contains(rule.from, j.Status):
		return Errorf(ECONFLICT, "cannot %s a job that is %s", action, j.Status)
	case j.ExpiresAt != nil && !now.Before(*j.ExpiresAt) && action != ActionCancel && action != ActionRate:
		// The deadline passed; the scheduler is about to apply it, and it wins.
		return Errorf(ECONFLICT, "cannot %s the job: its deadline passed at %s", action, j.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// Timeout is what a job's passed deadline does: a delivered job is accepted for the client
// (completed), any other job with a deadline expires and refunds the client.
func (j *Job) Timeout() (status string) {
	if j.Status == JobDelivered {
		return JobCompleted
	}
	return JobExpired
}

// Validate checks a rating.
func (r *NewRating) Validate() error {
	if r.Score < 1 || r.Score > 5 {
		return Errorf(EINVALID, "score must be a whole number from 1 to 5")
	}
	if err := ValidateText("comment", r.Comment, MaxRatingComment); err != nil {
		return err
	}
	if len(r.Tags) > MaxRatingTags {
		return Errorf(EINVALID, "tags must have at most %d items", MaxRatingTags)
	}
	for _, t := range r.Tags {
		if t == "" {
			return Errorf(EINVALID, "tags must not be empty")
		}
		if err := ValidateText("tag", t, MaxTagLen); err != nil {
			return err
		}
	}
	return nil
}
