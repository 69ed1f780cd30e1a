package kubeauth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/vault/sdk/framework"
)

// maxAudiences bounds the audiences field: each is compared with every
// token's audiences and sent in every TokenReview.
const maxAudiences = 16

// audiences is what a token must carry one of: audiences when set, else
// audience alone, else nothing (any audience, as Vault's method allows).
func (r *roleEntry) audiences() []string {
	switch {
	case len(r.Audiences) > 0:
		return r.Audiences
	case r.Audience != "":
		return []string{r.Audience}
	}
	return nil
}

// applyAudiences applies the audiences field a write sends; an empty list
// clears it.
func applyAudiences(r *roleEntry, d *framework.FieldData) error {
	v, ok := d.GetOk("audiences")
	if !ok {
		return nil
	}
	list := v.([]string)
	if len(list) > maxAudiences {
		return fmt.Errorf("audiences: %d entries; at most %d", len(list), maxAudiences)
	}
	for i, a := range list {
		if a == "" {
			return fmt.Errorf("audiences: entry %d is empty", i+1)
		}
		if err := noSurroundingSpace("audiences", a); err != nil {
			return err
		}
		if slices.Contains(list[:i], a) {
			return fmt.Errorf("audiences: %q is listed twice", a)
		}
	}
	r.Audiences = nil
	if len(list) > 0 {
		r.Audiences = list
	}
	return nil
}

// validateAudiences refuses a role with both audience and audiences: one
// of them would be silently ignored, and which one is a guess.
func validateAudiences(r *roleEntry) error {
	if r.Audience != "" && len(r.Audiences) > 0 {
		return errors.New(`audiences: cannot be set with audience; send audience="" with audiences, or put the audience in audiences`)
	}
	return nil
}
