package justpay

// Page selects one page of a list: Page counts from 1, Limit is 1-MaxPageLimit.
type Page struct {
	Page  int
	Limit int
}

// Paging defaults and bounds shared by every list endpoint.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 100
)

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Page - 1) * p.Limit }

// Validate reports EINVALID for a page below 1 or a limit outside 1-MaxPageLimit.
func (p Page) Validate() error {
	if p.Page < 1 || p.Page > 1_000_000 {
		return Errorf(EINVALID, "page must be a whole number from 1")
	}
	if p.Limit < 1 || p.Limit > MaxPageLimit {
		return Errorf(EINVALID, "limit must be a whole number from 1 to %d", MaxPageLimit)
	}
	return nil
}
