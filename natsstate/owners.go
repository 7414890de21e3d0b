package natsstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/nats-io/nats.go/jetstream"
)

// The owner index (chat.OwnerIndex) lives in the rooms' bucket, one key per
// owner, owner.<token>, where the token is Config.RoomToken of ownerPrefix
// and the owner: no room name holds a NUL, so an owner's token is never a
// room's, and the owner string (an HMAC of a browser's session already)
// never appears in a key. The value is the owner and its rooms as JSON,
// sealed by Config.Seal for ownerLabel; it holds the owner, and an entry
// that opens with another owner inside (one copied to another key) is an
// error.

const (
	ownerPrefix = "\x00owner "
	// ownerLabel is the "room" an entry is sealed for: a name no room can
	// have (room names are a-z, 0-9, '-', '_' and '.'), so an entry never
	// opens as a room's state nor a state as an entry. One label for every
	// owner keeps the Box's cache of per-room keys from growing with the
	// number of browsers.
	ownerLabel = "\x00owners"
	// ownerConflicts bounds how often a change of one entry is decided
	// again because another node changed it first.
	ownerConflicts = 16
	// ownerMarkerTTL is how long the marker a moved entry leaves is kept
	// (the bucket's LimitMarkerTTL): without a TTL, every renewed session
	// would leave one for good.
	ownerMarkerTTL = time.Minute
)

var _ chat.OwnerIndex = (*Store)(nil)

// ownerValue is an owner's entry, as sealed.
type ownerValue struct {
	Owner string   `json:"owner"`
	Rooms []string `json:"rooms"`
}

// ownerKey returns the owner's key: a room's key, by the same token check,
// under its own prefix.
func (s *Store) ownerKey(owner string) (string, error) {
	key, err := s.key(ownerPrefix + owner)
	if err != nil {
		return "", err
	}
	return "owner." + strings.TrimPrefix(key, "room."), nil
}

// ownerGet returns the owner's rooms and its entry's revision (0: none).
func (s *Store) ownerGet(ctx context.Context, owner, key string) ([]string, chat.Revision, error) {
	sealed, rev, err := s.get(ctx, key)
	if err != nil || rev == 0 {
		return nil, 0, err
	}
	plain, err := s.cfg.Open(ownerLabel, sealed)
	if err != nil {
		return nil, 0, fmt.Errorf("natsstate: open an owner's entry: %w", err)
	}
	var v ownerValue
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, 0, fmt.Errorf("natsstate: decode an owner's entry: %w", err)
	}
	if v.Owner != owner {
		return nil, 0, errors.New("natsstate: an owner's key holds another owner's entry")
	}
	return v.Rooms, rev, nil
}

// ownerPut writes the owner's rooms if its entry is still at expect, else
// chat.ErrConflict.
func (s *Store) ownerPut(ctx context.Context, owner, key string, expect chat.Revision, rooms []string) error {
	plain, err := json.Marshal(ownerValue{Owner: owner, Rooms: rooms})
	if err != nil {
		return fmt.Errorf("natsstate: encode an owner's entry: %w", err)
	}
	sealed, err := s.cfg.Seal(ownerLabel, plain)
	if err != nil {
		return fmt.Errorf("natsstate: seal an owner's entry: %w", err)
	}
	_, err = s.put(ctx, key, expect, sealed)
	return err
}

// ownerAdd adds rooms to the owner's entry as chat.AddOwnerRoom does, by
// compare-and-set, deciding again when another node wrote first.
func (s *Store) ownerAdd(ctx context.Context, owner string, rooms []string) error {
	key, err := s.ownerKey(owner)
	if err != nil {
		return err
	}
	for tries := range ownerConflicts + 1 {
		if tries > 1 { // the first retry at once
			time.Sleep(chat.ConflictBackoff(tries - 1))
		}
		have, rev, err := s.ownerGet(ctx, owner, key)
		if err != nil {
			return err
		}
		changed := false
		for _, r := range rooms {
			var c bool
			have, c = chat.AddOwnerRoom(have, r)
			changed = changed || c
		}
		if !changed {
			return nil
		}
		err = s.ownerPut(ctx, owner, key, rev, have)
		if !errors.Is(err, chat.ErrConflict) {
			return err
		}
	}
	return chat.ErrStateBusy
}

// AddRoom implements chat.OwnerIndex.
func (s *Store) AddRoom(owner, room string) error {
	ctx, cancel := s.context()
	defer cancel()
	return s.ownerAdd(ctx, owner, []string{room})
}

// Rooms implements chat.OwnerIndex.
func (s *Store) Rooms(owner string) ([]string, chat.Revision, error) {
	key, err := s.ownerKey(owner)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.context()
	defer cancel()
	return s.ownerGet(ctx, owner, key)
}

// Move implements chat.OwnerIndex. Old's entry is purged at its revision
// (the server checks it), leaving a marker that the bucket drops after
// ownerMarkerTTL.
func (s *Store) Move(old string, expect chat.Revision, new string, rooms []string) error {
	key, err := s.ownerKey(old)
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	if _, rev, err := s.ownerGet(ctx, old, key); err != nil {
		return err
	} else if rev != expect {
		return chat.ErrConflict
	}
	// New's entry first: if this node stops in between, old's stays, and
	// stale entries are harmless.
	if len(rooms) > 0 {
		if err := s.ownerAdd(ctx, new, rooms); err != nil {
			return err
		}
	}
	if expect == 0 {
		return nil
	}
	err = s.withBucket(ctx, func() error {
		return s.kv.Purge(ctx, key, jetstream.LastRevision(uint64(expect)), jetstream.PurgeTTL(ownerMarkerTTL))
	})
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return chat.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("natsstate: remove an owner's entry: %w", err)
	}
	return nil
}
