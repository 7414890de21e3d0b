package chat

import "time"

// A browser whose member left a room, by choice or by staying away, is
// offered the same name when it comes back. The hub remembers the last name
// per browser and room for a day, and at most maxDepartures of them.
const (
	departureTTL  = 24 * time.Hour
	maxDepartures = 10000
)

type departure struct{ owner, room string }

type departed struct {
	name string
	at   time.Time
}

// Departed returns the name the owner last had in a room it left.
func (h *Hub) Departed(owner, roomName string) (string, bool) {
	name, err := RoomName(roomName)
	if err != nil {
		return "", false
	}
	h.departedMu.Lock()
	defer h.departedMu.Unlock()
	d, ok := h.departed[departure{owner, name}]
	return d.name, ok
}

func (h *Hub) rememberDeparture(owner, roomName, name string, now time.Time) {
	h.departedMu.Lock()
	defer h.departedMu.Unlock()
	key := departure{owner, roomName}
	if _, ok := h.departed[key]; !ok && len(h.departed) >= maxDepartures {
		return // a convenience, not worth unbounded memory
	}
	h.departed[key] = departed{name: name, at: now}
}

func (h *Hub) forgetDepartures(now time.Time) {
	h.departedMu.Lock()
	defer h.departedMu.Unlock()
	for k, d := range h.departed {
		if now.Sub(d.at) >= departureTTL {
			delete(h.departed, k)
		}
	}
}
