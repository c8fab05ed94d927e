package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/syncgate/syncgate/guest/abi"
)

// CheckSettings calls g once with no ops and its settings: a guest that
// checks its settings (guest.CheckSettings) answers an error for a bad one.
// The reloader refuses the pipeline then, so a bad setting is a start-up
// error naming the guest (and the guest's message the table and key).
func (g *Guest) CheckSettings(ctx context.Context) error {
	in, err := json.Marshal(map[string]any{"abi": abi.Version, "request_id": "settings-check",
		"now": time.Unix(0, 0).UTC(), "caller": map[string]any{"user_id": ""}, "settings": g.Settings(), "ops": []any{}})
	if err != nil {
		return err
	}
	out, err := g.Call(ctx, in)
	if err != nil {
		return fmt.Errorf("guest %s: settings check: %w", g.Name(), err)
	}
	var resp struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("guest %s: settings check: bad answer: %w", g.Name(), err)
	}
	if resp.Error != "" {
		return fmt.Errorf("guest %s: GUEST_SETTINGS: %s", g.Name(), resp.Error)
	}
	return nil
}
